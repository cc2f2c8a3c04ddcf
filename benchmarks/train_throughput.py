"""Training throughput of PANet-S at the paper's crop and batch, float32 and bfloat16.

    python benchmarks/train_throughput.py [--steps 3] [--batch 16] [--patch 48]

Times full optimiser steps (L1 loss, Adam) on random data after one warm-up step, for
PANet-S and for the same network without attention; the attention's share of a step is
1 - t(without) / t(with). bfloat16 runs under CPU autocast (the attention's matching stays
in float32 inside the module).
"""

from __future__ import annotations

import argparse
import time

import torch

from panet.hardware import has_fast_low_precision
from panet.models import create_model
from panet.train.loop import train_step


def seconds_per_step(attention: bool, dtype, steps: int, batch: int, patch: int) -> float:
    torch.manual_seed(0)
    options = {} if attention else {"attention_positions": []}
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
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fast bf16: "
          f"{has_fast_low_precision('cpu', torch.bfloat16)}; PANet-S, batch {args.batch}, "
          f"{args.patch}x{args.patch}")
    for name, dtype in (("fp32", None), ("bf16 autocast", torch.bfloat16)):
        full = seconds_per_step(True, dtype, args.steps, args.batch, args.patch)
        plain = seconds_per_step(False, dtype, args.steps, args.batch, args.patch)
        print(f"{name:<14} {1 / full:.4f} it/s ({full:.2f} s/step); without attention "
              f"{plain:.2f} s/step; attention share {1 - plain / full:.0%}")


if __name__ == "__main__":
    main()
