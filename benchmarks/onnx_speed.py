"""onnxruntime against PyTorch: tiles through ``panet restore``, and whole images.

    python benchmarks/onnx_speed.py [--models denoise-color,sr-x4] [--size 192] [--repeat 2]
    python benchmarks/onnx_speed.py --whole 256,512 [--whole-model denoise-color]

Tiles (the default): each shipped model is exported to a temporary ONNX file; then the same
image (``--size``² random pixels, input size) is restored with
:func:`panet.inference.restore_pixels` in tiles of 48 with both backends, best of
``--repeat`` runs after a warm-up, in seconds per output megapixel.

Whole images (``--whole``): for each side, four rows, each run once in a fresh process so
that its peak resident memory (Linux ``VmHWM``) is its own: the ONNX file on one whole
image in onnxruntime, the PyTorch model on the same whole image (the block kernel), and the
tiled ``panet restore`` path with each backend. Attention over a whole image costs time
with the square of its pixels: 512 x 512 takes tens of minutes on a 2-core CPU.

Threads: PyTorch's and onnxruntime's intra-op count are both ``torch.get_num_threads()``;
onnxruntime runs with its CPU provider and default session options.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WHOLE_MODES = {
    "onnx-whole": "onnxruntime, whole image",
    "torch-whole": "PyTorch (block kernel), whole image",
    "onnx-tiles": "onnxruntime, tiles of 48 (panet restore)",
    "torch-tiles": "PyTorch, tiles of 48 (panet restore)",
}


def _seconds(model, pixels, task, tile, repeat):
    from panet.inference import default_overlap, model_tiling, restore_pixels
    from panet.tasks import get_task

    task = get_task(task)
    tiling = model_tiling(model, task, tile, default_overlap(tile))
    restore_pixels(model, pixels[:48, :48], task=task, tiling=tiling)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out, _ = restore_pixels(model, pixels, task=task, tiling=tiling)
        best = min(best, time.perf_counter() - start)
    return best, out


def _peak_bytes() -> int:
    # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) * 1024


def _child(mode: str, name: str, onnx_path: str, size: int) -> None:
    """One whole-image measurement, printed as ``seconds peak_bytes``."""
    rng = np.random.default_rng(0)
    if mode == "onnx-whole":   # onnxruntime alone, as a program without PyTorch runs it
        import onnxruntime

        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        image = session.get_inputs()[0]
        x = rng.random((1, image.shape[1], size, size), dtype=np.float32)
        start = time.perf_counter()
        session.run(None, {image.name: x})
        print(time.perf_counter() - start, _peak_bytes())
        return
    import torch

    from panet.pretrained import load_pretrained, pretrained_entry

    if mode == "onnx-tiles":
        from panet.checkpoints.onnx_file import load_onnx_model
        model = load_onnx_model(onnx_path)
    else:
        model = load_pretrained(pretrained_entry(name))
    pixels = rng.random((size, size, model.card.in_channels), dtype=np.float32)
    if mode == "torch-whole":
        start = time.perf_counter()
        with torch.no_grad():
            model(torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None])
        seconds = time.perf_counter() - start
    else:
        seconds, _ = _seconds(model, pixels, model.card.family, 48, 1)
    print(seconds, _peak_bytes())


def _whole_rows(name: str, sizes: list[int], folder: str) -> None:
    from panet.export import export_onnx
    from panet.pretrained import load_pretrained, pretrained_entry

    path = os.path.join(folder, f"{name}.onnx")
    export_onnx(load_pretrained(pretrained_entry(name)), path)
    print(f"\n{name}, one random image per row, one run in a fresh process\n")
    print("| image | backend | time | peak memory |\n|---|---|---|---|")
    for size in sizes:
        for mode, label in WHOLE_MODES.items():
            done = subprocess.run([sys.executable, __file__, "--child", mode, name, path,
                                   str(size)], capture_output=True, text=True)
            if done.returncode != 0:
                why = (done.stderr.strip().splitlines() or ["killed"])[-1][:80]
                print(f"| {size}² | {label} | failed: {why} | |", flush=True)
                continue
            seconds, peak = done.stdout.split()[-2:]
            print(f"| {size}² | {label} | {float(seconds):.1f} s | "
                  f"{int(peak) / 2**30:.2f} GiB |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="denoise-color,sr-x4")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--whole", default="",
                        help="comma list of image sides for the whole-image rows instead")
    parser.add_argument("--whole-model", default="denoise-color")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, name, path, size = args.child
        _child(mode, name, path, int(size))
        return

    from panet.checkpoints.onnx_file import load_onnx_model
    from panet.export import export_onnx
    from panet.hardware import describe_machine
    from panet.pretrained import load_pretrained, pretrained_entry

    folder = tempfile.mkdtemp(prefix="panet-onnx-")
    if args.whole:
        print(describe_machine())
        _whole_rows(args.whole_model, [int(s) for s in args.whole.split(",")], folder)
        return
    print(f"{describe_machine()}; {args.size}x{args.size} input, tiles of 48")
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
