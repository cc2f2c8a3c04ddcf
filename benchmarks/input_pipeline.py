"""Batches per second of the two training input pipelines, per shipped configuration.

    python benchmarks/input_pipeline.py --train .devpack/train [--device cuda] \
        [--batches 50] [--workers 2] [--steps 100] [--only demosaic,jpeg-color]

``loader``: the CPU dataset through a DataLoader with ``--workers`` processes (issue 6's
GPU runs: 1-3 workers on a 2-core host), batches moved to the device. ``device``:
:class:`~panet.data.device_batches.DeviceBatches` on ``--device`` (start-up, which includes
JPEG coding, is reported apart). With ``--steps``, also full training iterations/s of the
shipped model (warm-started from its weights, the config's batch and precision) fed by each
pipeline: the number that the GPU training scripts get. Data: ``panet data fetch train``, then
``python scripts/pack_train_crops.py .devpack`` (or pass any folder of photos as ``--train``).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import yaml

from panet.data.datasets import RestorationDataset
from panet.data.device_batches import DeviceBatches
from panet.train.config import apply_overrides, build_config
from panet.train.loop import autocast_dtype, make_task, train_step
from panet.train.warm_start import load_source

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_batches(config, train: str, workers: int, device: torch.device):
    dataset = RestorationDataset(train, make_task(config), patch_size=config.data.patch_size,
                                 channels=config.task.channels, repeat=config.data.repeat,
                                 seed=config.train.seed, synthetic=config.data.synthetic)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.train.batch_size,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    while True:
        for degraded, target in loader:
            yield degraded.to(device, non_blocking=True), target.to(device, non_blocking=True)


def device_batches(config, train: str, device: torch.device):
    return DeviceBatches(train, make_task(config), patch_size=config.data.patch_size,
                         channels=config.task.channels, batch_size=config.train.batch_size,
                         device=device, seed=config.train.seed,
                         synthetic=config.data.synthetic).batches()


def rate(batches, count: int, device: torch.device, step=None) -> float:
    """Batches (or training steps, with ``step``) per second after two warm-up ones."""
    for _ in range(2):
        batch = next(batches)
        if step:
            step(*batch)
    _sync(device)
    start = time.perf_counter()
    for _ in range(count):
        batch = next(batches)
        if step:
            step(*batch)
    _sync(device)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--only")
    args = parser.parse_args()
    device = torch.device(args.device)
    names = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(ROOT, "configs",
                                                                           "shipped")))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    name_of = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name_of}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; loader with {args.workers} workers")
    for name in names:
        with open(os.path.join(ROOT, "configs", "shipped", f"{name}.yaml")) as handle:
            config = build_config(apply_overrides(yaml.safe_load(handle), []))
        started = time.perf_counter()
        on_device = device_batches(config, args.train, device)
        next(on_device)
        setup = time.perf_counter() - started
        line = (f"{name:<14} batch {config.train.batch_size}: loader "
                f"{rate(loader_batches(config, args.train, args.workers, device), args.batches, device):7.1f}"
                f" batches/s, device {rate(on_device, args.batches, device):8.1f} batches/s "
                f"(start-up {setup:.1f} s)")
        if args.steps:
            model = load_source(os.path.join(ROOT, "panet", "weights", f"{name}.safetensors"))
            model = model.to(device).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
            dtype = autocast_dtype(config.train.precision, device)
            step = lambda x, y: train_step(model, optimizer, x, y, dtype)   # noqa: E731
            line += (f"; training it/s: loader "
                     f"{rate(loader_batches(config, args.train, args.workers, device), args.steps, device, step):.1f}"
                     f", device {rate(on_device, args.steps, device, step):.1f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
