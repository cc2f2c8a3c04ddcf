"""Operator calls per training step of the shipped models: what a GPU step launches.

    python benchmarks/step_launches.py [--only demosaic,sr-x2]

On the lent H100 the shipped models trained at about 30 iterations/s alone (33 ms a
step) although a step is a few milliseconds of arithmetic there: a step is thousands of
small kernels, each launched from Python. This counts, on the CPU (no GPU needed), the
operator calls of one full training step (forward, L1 loss, backward, Adam) of each
shipped configuration at its batch and crop, with the attention's blocks holding one image
and Adam's loop over the tensors (the CPU's way), then with blocks of several whole images
and the fused Adam (the GPU's way: ``attend(group_images=True)``, ``Adam(fused=True)``).
Calls that only make a view (slices, transposes, reshapes) are counted apart: they cost
Python and dispatcher time but launch nothing. Top-level calls only (not the calls an
operator makes inside itself). ``--compile MODE`` adds the GPU layout with the network
through ``torch.compile`` (``train.compile``): what stays an operator call is what the
generated code does not fuse (convolutions and matrix products call their libraries), and
under ``reduce-overhead`` on CUDA each compiled graph replays as one CUDA graph launch.
The step's arithmetic is counted too (``FlopCounterMode``:
convolutions and matrix products, forward and backward), to set the launches beside it.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os

import torch
import yaml
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from panet.attention import kernel, pyramid
from panet.hardware import describe_machine
from panet.models import create_model, model_card
from panet.train.config import COMPILE_MODES, apply_overrides, build_config
from panet.train.loop import train_step

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VIEWS = {"aten::select", "aten::slice", "aten::t", "aten::transpose", "aten::unsqueeze",
         "aten::squeeze", "aten::view", "aten::expand", "aten::as_strided", "aten::permute",
         "aten::alias", "aten::detach", "aten::reshape", "aten::_reshape_alias",
         "aten::split", "aten::chunk", "aten::unbind", "aten::narrow", "aten::lift_fresh"}


def count_step(name: str, grouped: bool, compile_mode: str = "off"
               ) -> tuple[int, int, float, int]:
    """(operator calls that compute, view-only calls, GFLOP, batch) of one training step;
    with ``compile_mode`` the network runs through ``torch.compile`` (``train.compile``)."""
    with open(os.path.join(ROOT, "configs", "shipped", f"{name}.yaml"), encoding="utf-8") as f:
        config = build_config(apply_overrides(yaml.safe_load(f), ["data.train=unused"]))
    model = create_model(config.model.name, **config.model.options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=grouped or None)
    scale = int(config.task.scale) if config.task.type == "sr" else 1
    size, batch = config.data.patch_size, config.train.batch_size
    channels = model_card(model).in_channels
    degraded = torch.rand(batch, channels, size // scale, size // scale)
    target = torch.rand(batch, channels, size, size)
    original = pyramid.attend
    pyramid.attend = functools.partial(kernel.attend, group_images=grouped)
    net = model if compile_mode == "off" else torch.compile(model, mode=compile_mode,
                                                            dynamic=False)
    try:
        for _ in range(1 if compile_mode == "off" else 2):   # Adam's state; compilation
            train_step(net, optimizer, degraded, target, None)
        with profile(activities=[ProfilerActivity.CPU]) as trace:
            train_step(net, optimizer, degraded, target, None)
        with FlopCounterMode(display=False) as flops:
            train_step(model, optimizer, degraded, target, None)
    finally:
        pyramid.attend = original
    calls = collections.Counter(
        event.name for event in trace.events() if event.name.startswith("aten::")
        and not (event.cpu_parent and event.cpu_parent.name.startswith("aten::")))
    views = sum(n for op, n in calls.items() if op in VIEWS)
    return sum(calls.values()) - views, views, flops.get_total_flops() / 1e9, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated shipped model names")
    parser.add_argument("--compile", default="off", choices=COMPILE_MODES,
                        help="add a column: the GPU layout with the network compiled")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else sorted(
        os.path.splitext(n)[0] for n in os.listdir(os.path.join(ROOT, "configs", "shipped")))
    print(f"machine: {describe_machine()}")
    compiled = args.compile != "off"
    print("| model | batch | GFLOP per step | calls per step, CPU layout | GPU layout | "
          + (f"GPU layout, compiled ({args.compile}) | " if compiled else "")
          + "view-only calls (CPU / GPU layout) |")
    print("|---|---|---|---|---|---|" + ("---|" if compiled else ""))
    for name in names:
        (alone, alone_views, gflop, batch), (grouped, grouped_views, _, _) = (
            count_step(name, g) for g in (False, True))
        column = f"{count_step(name, True, args.compile)[0]:,} | " if compiled else ""
        print(f"| {name} | {batch} | {gflop:.0f} | {alone:,} | {grouped:,} | {column}"
              f"{alone_views:,} / {grouped_views:,} |",
              flush=True)


if __name__ == "__main__":
    main()
