"""``panet env``: versions and what the hardware supports."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> None:
    import platform

    import torch

    from panet import __version__
    from panet.hardware import PRECISIONS, has_fast_low_precision, precision_plan

    print(f"panet {__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"CPU threads {torch.get_num_threads()}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, fast bfloat16 "
          f"{'yes' if has_fast_low_precision('cpu', torch.bfloat16) else 'no'}")
    print(f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for name in PRECISIONS:
            print(f"precision {name} on {device}: {precision_plan(name, device)}")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    env = commands.add_parser("env", help="show versions and what the hardware supports")
    env.set_defaults(run=run)
