"""The ``panet`` command line."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cmd_models(args: argparse.Namespace) -> None:
    from panet.models import count_parameters, create_model, list_models, model_entry

    rows = [(name, model_entry(name).task, f"{count_parameters(create_model(name)):,}",
             model_entry(name).description) for name in list_models()]
    header = ("name", "task", "parameters", "description")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
    for row in [header] + rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}")


def _cmd_convert(args: argparse.Namespace) -> None:
    from panet.checkpoints import load_official_checkpoint, save_model
    from panet.models import count_parameters

    source, target = os.path.abspath(args.checkpoint), os.path.abspath(args.output)
    if source == target:
        raise CommandError("the output would overwrite the input checkpoint")
    if os.path.exists(target) and not args.overwrite:
        raise CommandError(f"{args.output} exists; pass --overwrite to replace it")
    model = load_official_checkpoint(args.checkpoint)
    save_model(model, args.output, {"converted_from": os.path.basename(args.checkpoint)})
    print(f"{args.output}: {model.architecture} {model.config} "
          f"({count_parameters(model):,} parameters)")


def _cmd_smoke(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from panet.io import read_image, sample_image_path, write_image
    from panet.metrics import psnr
    from panet.models import count_parameters, create_model

    if args.sigma < 0:
        raise CommandError(f"--sigma must be non-negative, got {args.sigma}")
    if args.output and os.path.exists(args.output) and not args.overwrite:
        raise CommandError(f"{args.output} exists; pass --overwrite to replace it")
    path = args.image or sample_image_path()
    clean = read_image(path)
    rng = np.random.default_rng(args.seed)
    noisy = np.clip(np.round(clean * 255.0 + rng.normal(0.0, args.sigma, clean.shape)), 0, 255)
    noisy = (noisy / 255.0).astype(np.float32)
    torch.manual_seed(args.seed)
    model = create_model(args.model, in_channels=clean.shape[2]).eval()
    tensor = torch.from_numpy(noisy).permute(2, 0, 1)[None]
    start = time.perf_counter()
    with torch.inference_mode():
        output = model(tensor)
    seconds = time.perf_counter() - start
    restored = output[0].permute(1, 2, 0).clamp(0, 1).numpy()
    print(f"image     {path} ({clean.shape[1]}x{clean.shape[0]}, {clean.shape[2]} channels)")
    print(f"model     {args.model}, {count_parameters(model):,} parameters, RANDOM weights "
          "(smoke job: checks the pipeline, restores nothing)")
    print(f"shapes    input {tuple(tensor.shape)} -> output {tuple(output.shape)}")
    print(f"time      {seconds:.2f} s on {torch.get_num_threads()} CPU threads; "
          f"peak memory {_peak_memory_mib():.0f} MiB")
    print(f"PSNR      noisy input (sigma {args.sigma:g}) {psnr(noisy, clean):.2f} dB; "
          f"random-weight output {psnr(restored, clean):.2f} dB")
    if args.output:
        write_image(args.output, restored)
        print(f"wrote     {args.output}")


def _cmd_env(args: argparse.Namespace) -> None:
    import platform

    import torch

    from panet import __version__
    from panet.hardware import has_fast_low_precision

    print(f"panet {__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"CPU threads {torch.get_num_threads()}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, fast bfloat16 "
          f"{'yes' if has_fast_low_precision('cpu', torch.bfloat16) else 'no'}")
    print(f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``panet`` command."""
    parser = argparse.ArgumentParser(prog="panet", description="Pyramid Attention Networks "
                                     "for image restoration.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(run=_cmd_models)

    convert = commands.add_parser("convert", help="convert an authors' .pt checkpoint to "
                                  "panet safetensors weights")
    convert.add_argument("checkpoint", help="the authors' checkpoint (torch.save state dict)")
    convert.add_argument("output", help="the .safetensors file to write")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output")
    convert.set_defaults(run=_cmd_convert)

    smoke = commands.add_parser("smoke", help="run a random-weight model on the bundled "
                                "picture (checks the installation)")
    smoke.add_argument("--image", help="image to use instead of the bundled picture")
    smoke.add_argument("--model", default="panet-s", help="registered model name")
    smoke.add_argument("--sigma", type=float, default=25.0, help="noise level on 0-255")
    smoke.add_argument("--seed", type=int, default=0)
    smoke.add_argument("-o", "--output", help="write the output image here")
    smoke.add_argument("--overwrite", action="store_true", help="replace an existing output")
    smoke.set_defaults(run=_cmd_smoke)

    env = commands.add_parser("env", help="show versions and what the hardware supports")
    env.set_defaults(run=_cmd_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from panet.checkpoints import CheckpointError
    from panet.io import ImageError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (CommandError, CheckpointError, ImageError, ValueError) as error:
        print(f"panet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panet: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
