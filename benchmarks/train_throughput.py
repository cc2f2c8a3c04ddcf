"""Training throughput of PANet-S at the paper's crop and batch, float32 and bfloat16.

    python benchmarks/train_throughput.py [--steps 3] [--batch 16] [--patch 48] [--shipped]
        [--precisions fp32 bf16]

``--shipped`` uses the shipped models' attention (reduction 4, levels 1 and 1/2) instead of
the paper's (reduction 2, five levels).

Times full optimiser steps (L1 loss, Adam) on random data after one warm-up step, for
PANet-S and for the same network without attention; the attention's share of a step is
1 - t(without) / t(with). bfloat16 runs under CPU autocast (the attention's matching stays
in float32 inside the module).
"""

from __future__ import annotations

import argparse
import time

import torch

from panet.hardware import describe_machine
from panet.models import create_model
from panet.train.loop import train_step


SHIPPED = {"reduction": 4, "scales": [1.0, 0.5]}


def seconds_per_step(attention: bool, dtype, steps: int, batch: int, patch: int,
                     shipped: bool = False) -> float:
    torch.manual_seed(0)
    options = dict(SHIPPED) if shipped else {}
    if not attention:
        options["attention_positions"] = []
    model = create_model("panet-s", **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = torch.rand(batch, 3, patch, patch), torch.rand(batch, 3, patch, patch)
    train_step(model, optimizer, *data, dtype)       # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, *data, dtype)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped models' light attention")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"],
                        default=["fp32", "bf16"])
    args = parser.parse_args()
    print(f"{describe_machine()}; torch {torch.__version__}; PANet-S"
          f"{' (shipped attention)' if args.shipped else ''}, batch {args.batch}, "
          f"{args.patch}x{args.patch}")
    for name in args.precisions:
        dtype = None if name == "fp32" else torch.bfloat16
        full = seconds_per_step(True, dtype, args.steps, args.batch, args.patch, args.shipped)
        plain = seconds_per_step(False, dtype, args.steps, args.batch, args.patch, args.shipped)
        print(f"{name:<14} {1 / full:.4f} it/s ({full:.2f} s/step); without attention "
              f"{plain:.2f} s/step; attention share {1 - plain / full:.0%}")


if __name__ == "__main__":
    main()
