"""Training and restore speed of every variant of an ablation study, on one thread.

    python benchmarks/ablation_speed.py configs/studies/ablation.yaml
        [--out docs/ablation/speed.json] [--repeat 5] [--size 192]

For each variant (the study's base network with the variant's options, random weights):
the median time of a training step (forward, L1 loss, backward and Adam) on the study's
batch of crops, after two warm-up steps; and the best time of ``--repeat`` restores of a
``--size``² image in the study's scoring tiles (``panet restore``'s tiling), in seconds
per megapixel. One thread (as every study run trains), float32. The report
(``scripts/ablation_report.py``) takes its speed columns from the written file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import yaml

from panet.hardware import describe_machine
from panet.inference import model_tiling, restore_pixels
from panet.models import create_model
from panet.tasks import get_task


def step_seconds(model: torch.nn.Module, batch: int, crop: int, steps: int) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, crop, crop)
    noisy = x + 0.1 * torch.randn_like(x)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        optimiser.zero_grad()
        torch.nn.functional.l1_loss(model(noisy), x).backward()
        optimiser.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def restore_seconds_per_mp(model: torch.nn.Module, size: int, tile: int, overlap: int,
                           repeat: int) -> float:
    task = get_task("denoise")
    tiling = model_tiling(model, task, tile, overlap)
    pixels = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        restore_pixels(model.eval(), pixels, task=task, tiling=tiling)
        best = min(best, time.perf_counter() - start)
    return best / (size * size / 1e6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--out", help="write the results here as JSON")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=192)
    args = parser.parse_args()
    with open(args.study, encoding="utf-8") as handle:
        study = yaml.safe_load(handle)
    torch.set_num_threads(1)
    base, spec = study["base"], study["eval"]
    train, data = base.get("train", {}), base.get("data", {})
    results = {"machine": describe_machine(), "command": " ".join(["python", *sys.argv]),
               "batch": train.get("batch_size"), "crop": data.get("patch_size"),
               "restore_size": args.size, "variants": {}}
    print(results["machine"])
    print("| variant | training step (s) | restore (s per megapixel) |\n|---|---|---|")
    for variant, options in study["variants"].items():
        torch.manual_seed(0)
        model = create_model(base["model"]["name"], **{**base["model"].get("options", {}),
                                                        **(options or {})})
        step = step_seconds(model.train(), train.get("batch_size", 4),
                            data.get("patch_size", 32), args.repeat)
        with torch.no_grad():
            restore = restore_seconds_per_mp(model, args.size, spec.get("tile", 48),
                                             spec.get("overlap", 8), max(1, args.repeat // 2))
        results["variants"][variant] = {"train_step_s": round(step, 4),
                                        "restore_s_per_mp": round(restore, 2)}
        print(f"| {variant} | {step:.3f} | {restore:.1f} |", flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
