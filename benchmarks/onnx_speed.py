"""Seconds per megapixel of onnxruntime against PyTorch, through ``panet restore``'s tiling.

    python benchmarks/onnx_speed.py [--models denoise-color,sr-x4] [--size 192] [--repeat 2]

Each shipped model is exported to a temporary ONNX file; then the same image (``--size``²
random pixels, input size) is restored with :func:`panet.inference.restore_pixels` in tiles
of the model's own restore tile (48) with both backends, best of ``--repeat`` runs, after a
warm-up on a small image. Threads: PyTorch's and onnxruntime's intra-op count are both
``torch.get_num_threads()``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from panet.checkpoints.onnx_file import load_onnx_model
from panet.export import export_onnx
from panet.hardware import describe_machine
from panet.pretrained import load_pretrained, pretrained_entry
from panet.inference import default_overlap, model_tiling, restore_pixels
from panet.tasks import get_task


def _seconds(model, pixels, task, tile, repeat):
    task = get_task(task)
    tiling = model_tiling(model, task, tile, default_overlap(tile))
    restore_pixels(model, pixels[:48, :48], task=task, tiling=tiling)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out, _ = restore_pixels(model, pixels, task=task, tiling=tiling)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="denoise-color,sr-x4")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"{describe_machine()}; {args.size}x{args.size} "
          "input, tiles of 48")
    folder = tempfile.mkdtemp(prefix="panet-onnx-")
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        model = load_pretrained(pretrained_entry(name))
        path = os.path.join(folder, f"{name}.onnx")
        export_onnx(model, path)
        exported = load_onnx_model(path)
        task = model.card.family
        channels = model.card.in_channels
        pixels = rng.random((args.size, args.size, channels)).astype(np.float32)
        megapixels = (args.size * model.card.scale) ** 2 / 1e6
        results = {}
        for label, backend in (("PyTorch", model), ("onnxruntime", exported)):
            seconds, out = _seconds(backend, pixels, task, 48, args.repeat)
            results[label] = out
            print(f"{name:<14} {label:<12} {seconds / megapixels:8.1f} s/MP", flush=True)
        difference = np.abs(results["PyTorch"] - results["onnxruntime"]).max()
        print(f"{name:<14} largest difference of the outputs: {difference:.2e}")


if __name__ == "__main__":
    main()
