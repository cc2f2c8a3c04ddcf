"""Pyramid attention in the training regime: forward + backward of a batch of crops.

Times one attention module on ``batch x 64 x size x size`` random features (default: 16 crops
of 48x48, the shipped models' training batch), forward and backward with the loss
``mean(out^2)``, in float32 and under bfloat16 autocast, for

* ``paper``: the paper's module (64 channels, reduction 2, five levels 1 ... 0.6);
* ``light``: the shipped models' module (64 channels, reduction 4, levels 1 and 0.5);

and, with ``--authors-code DIR`` (the ``DN_RGB/code`` folder of a checkout of the authors'
repository, SHI-Labs/Pyramid-Attention-Networks), the authors' own module at the paper's
setting in the same run. ``--panet-code DIR`` times the PyramidAttention found in DIR instead
of the installed one (an older checkout, for before/after tables).

Every row runs in a fresh subprocess (its peak memory, ru_maxrss, is the row's own), and
the float32 GEMM rate (2048^2) is measured just before and after it: ``share`` is
``nominal flops / time / GEMM rate``, with the nominal forward+backward flops counted as
three times the forward's ``2*N*L*(C/r*9 + C*9)`` (what a kernel that recomputes nothing
and uses no shortcut would do).

    python benchmarks/attention_training.py
    python benchmarks/attention_training.py --authors-code ~/Pyramid-Attention-Networks/DN_RGB/code
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention import timed_between_gemm_rates  # noqa: E402  (the sibling benchmark)

SETTINGS = {"paper": dict(reduction=2, scales=(1.0, 0.9, 0.8, 0.7, 0.6)),
            "light": dict(reduction=4, scales=(1.0, 0.5))}


def nominal_flops(setting: str, batch: int, size: int, channels: int = 64) -> float:
    options = SETTINGS[setting]
    n = size * size
    keys = sum(math.floor(size * s) ** 2 for s in options["scales"])
    patch = 9 * (channels // options["reduction"] + channels)
    return 3.0 * 2.0 * batch * n * keys * patch


def _authors_module(code: str):
    """The authors' PyramidAttention from their checkout, without torchvision (their file
    imports it but does not use it here)."""
    import torch

    for name in ("torchvision", "torchvision.transforms", "torchvision.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    sys.modules["torchvision"].utils = sys.modules["torchvision.utils"]
    sys.path.insert(0, code)
    from model.attention import PyramidAttention as Authors  # noqa: E402

    torch.manual_seed(0)
    return Authors(level=5, res_scale=1, channel=64, reduction=2)


def worker(impl: str, setting: str, precision: str, batch: int, size: int, repeats: int,
           code: str | None) -> dict:
    if impl == "panet" and code:
        sys.path.insert(0, code)
    import torch

    if impl == "authors":
        module = _authors_module(code)
    else:
        from panet import PyramidAttention

        torch.manual_seed(0)
        module = PyramidAttention(64, **SETTINGS[setting])
    x = torch.randn(batch, 64, size, size)
    autocast = precision == "bf16"

    def step():
        xg = x.detach().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = module(xg)
        out.float().square().mean().backward()

    module(torch.randn(1, 64, 12, 12)).sum().backward()  # first-call set-up outside timing
    return timed_between_gemm_rates(step, repeats)


def measure(impl: str, setting: str, precision: str, args) -> dict:
    code = args.authors_code if impl == "authors" else args.panet_code
    command = [sys.executable, __file__, "--worker", impl, setting, precision,
               str(args.batch), str(args.size), str(args.repeats), code or ""]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps; the best counts")
    parser.add_argument("--settings", nargs="+", default=["paper", "light"],
                        choices=sorted(SETTINGS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16"])
    parser.add_argument("--authors-code", help="DN_RGB/code folder of the authors' repository")
    parser.add_argument("--panet-code", help="time the panet package found in this folder")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, setting, precision, batch, size, repeats, code = args.worker
        print(json.dumps(worker(impl, setting, precision, int(batch), int(size), int(repeats),
                                code or None)))
        return

    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from panet.hardware import describe_machine

    print(f"machine: {describe_machine()}; torch {torch.__version__}")
    print(f"batch {args.batch} x 64 x {args.size}^2, forward+backward, best of {args.repeats}")
    print(f"{'implementation':<16} {'setting':<6} {'precision':<9} {'time s':>8} "
          f"{'peak MiB':>9} {'GFLOP/s':>8} {'GEMM GF/s':>9} {'share':>6}")
    rows = []
    plans = [("panet", s, p) for s in args.settings for p in args.precisions]
    if args.authors_code and "paper" in args.settings:
        plans += [("authors", "paper", p) for p in args.precisions]
    for impl, setting, precision in plans:
        result = measure(impl, setting, precision, args)
        row = {"impl": impl, "setting": setting, "precision": precision, **result}
        if "error" in result:
            print(f"{impl:<16} {setting:<6} {precision:<9} {result['error']}")
        else:
            rate = nominal_flops(setting, args.batch, args.size) / result["seconds"]
            row.update(gflops=rate / 1e9, share=rate / result["gemm_fp32"])
            print(f"{impl:<16} {setting:<6} {precision:<9} {result['seconds']:>8.2f} "
                  f"{result['peak_mib']:>9.0f} {rate / 1e9:>8.1f} "
                  f"{result['gemm_fp32'] / 1e9:>9.1f} {row['share']:>6.0%}")
        sys.stdout.flush()
        rows.append(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"machine": describe_machine(), "batch": args.batch, "size": args.size,
                       "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
