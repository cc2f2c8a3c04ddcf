"""Training throughput of PANet-S at the paper's crop and batch, float32, TF32 and bfloat16.

    python benchmarks/train_throughput.py [--steps 3] [--batch 16] [--patch 48] [--shipped]
        [--precisions fp32 bf16] [--device cuda] [--compile reduce-overhead] [--channels-last]

``--shipped`` uses the shipped models' attention (reduction 4, levels 1 and 1/2) instead of
the paper's (reduction 2, five levels).

Times full optimiser steps (L1 loss, Adam) on random data after one warm-up step, for
PANet-S and for the same network without attention; the attention's share of a step is
1 - t(without) / t(with). bfloat16 runs under autocast (the attention's matching stays
in float32 inside the module). ``tf32`` is float32 with TF32 matrix products on a CUDA GPU
(``train.precision: tf32``; the same as fp32 on a CPU). ``scripts/device_lease.sh`` runs
this on a lent GPU before it trains, so each lease measures what TF32 and bfloat16 buy.

``--compile MODE`` times the step as ``train.compile: MODE`` runs it (the network through
``torch.compile``; the first steps, which compile, are warm-up and their time is printed
apart). ``--channels-last`` stores the weights and the crops in channels-last order.
"""

from __future__ import annotations

import argparse
import time

import torch

from panet.attention import KERNELS, set_attention_kernel
from panet.hardware import autocast_dtype, describe_machine, use_float32_products
from panet.models import create_model
from panet.train.config import COMPILE_MODES
from panet.train.loop import train_step


SHIPPED = {"reduction": 4, "scales": [1.0, 0.5]}


def seconds_per_step(attention: bool, dtype, steps: int, batch: int, patch: int,
                     shipped: bool = False, device: str = "cpu", compile_mode: str = "off",
                     channels_last: bool = False, kernel: str = "auto") -> float:
    torch.manual_seed(0)
    options = dict(SHIPPED) if shipped else {}
    if not attention:
        options["attention_positions"] = []
    model = create_model("panet-s", **options).to(device)
    set_attention_kernel(model, kernel)   # train.attention_kernel
    # as panet train: fused Adam on a GPU
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4,
                                 fused=True if device.startswith("cuda") else None)
    data = (torch.rand(batch, 3, patch, patch, device=device),
            torch.rand(batch, 3, patch, patch, device=device))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        data = tuple(d.contiguous(memory_format=torch.channels_last) for d in data)
    net = model
    if compile_mode != "off":   # as the trainer does
        net = torch.compile(model, mode=compile_mode, dynamic=False)

    def step() -> None:
        if compile_mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        train_step(net, optimizer, *data, dtype)

    finished = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    start = time.perf_counter()
    for _ in range(1 if compile_mode == "off" else 3):   # warm-up (and compilation)
        step()
    finished()
    if compile_mode != "off":
        print(f"  compiled ({compile_mode}) in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    finished()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped models' light attention")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "tf32", "bf16"],
                        default=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", default="off", choices=COMPILE_MODES,
                        help="the network through torch.compile in this mode (train.compile)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--attention-kernel", default="auto", choices=KERNELS,
                        help="the attention blocks' kernel (train.attention_kernel)")
    args = parser.parse_args()
    if args.device.startswith("cuda"):   # as panet train: fixed shapes, cuDNN's fastest
        torch.backends.cudnn.benchmark = True
    print(f"{describe_machine()}; torch {torch.__version__}; {args.device}; PANet-S"
          f"{' (shipped attention)' if args.shipped else ''}, batch {args.batch}, "
          f"{args.patch}x{args.patch}; compile {args.compile}; attention kernel "
          f"{args.attention_kernel}"
          f"{'; channels-last' if args.channels_last else ''}")
    for name in args.precisions:
        dtype = autocast_dtype(name, args.device)
        use_float32_products(name, args.device)
        full, plain = (seconds_per_step(attention, dtype, args.steps, args.batch, args.patch,
                                        args.shipped, args.device, args.compile,
                                        args.channels_last, args.attention_kernel)
                       for attention in (True, False))
        print(f"{name:<14} {1 / full:.4f} it/s ({full:.2f} s/step); without attention "
              f"{plain:.2f} s/step; attention share {1 - plain / full:.0%}")


if __name__ == "__main__":
    main()
