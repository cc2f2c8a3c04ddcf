"""`panet restore`: time and memory per megapixel, and the 24-megapixel memory check.

    python benchmarks/restore.py speed [--size 128] [--models panet-s,panet] [--precisions fp32] \
        [--tile 40] [--overlaps own,8,16] [--no-paper]
    python benchmarks/restore.py memory [--megapixels 24] [--max-memory 4] [--real-tiles 2]

``speed`` restores a centre crop of an offline-mini photo (kodim23; noisy at sigma 30) with
each model in float32 and bfloat16 (CPU autocast), with the tiles `panet restore` would
pick (the memory-budget tile, up to 128 px or the model's own tile: 48 for the shipped
models, with the model's own overlap or each of ``--overlaps``) and with the authors' chop
(unless ``--no-paper``), and times CBM3D on the same crop. Models are registry names
(random weights: weights do not change the time) or shipped names such as
``denoise-color``. Each run is a fresh process so that peak memory (max RSS)
belongs to that run alone. Data: ``speed`` needs offline-mini (``panet data fetch test``), and
its CBM3D row the baselines extra (``pip install -e ".[baselines]"``); ``memory`` needs none.

``memory`` runs the real `panet restore` command on a synthetic 6000x4000 photo with the
default memory budget. At ~900 s per megapixel on this CPU the whole image would take
hours, so only the first ``--real-tiles`` tiles go through the network; the others are
passed through unchanged. Every whole-image buffer is still allocated in full and the
network's per-tile peak is reached, so the process's peak memory is the real one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

_SPEED_CHILD = r"""
import json, resource, sys, time, numpy as np, torch
from panet.data.datasets import Denoise, RestorationDataset, find_images
from panet.data.photos import default_root, set_folder
from panet.inference import model_tiling, preferred_overlap, restore_pixels, tile_for_memory
from panet.pretrained import resolve_model
from panet.tasks import get_task
name, precision, protocol, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
overlap, tile = sys.argv[5], int(sys.argv[6])
paths = [p for p in find_images(set_folder(default_root(), "test")) if "kodim23" in p]
noisy, _ = (t.numpy().transpose(1, 2, 0) for t in RestorationDataset(
    paths, Denoise(30), patch_size=size, train=False)[0])
if name == "cbm3d":
    import bm3d
    start = time.perf_counter(); bm3d.bm3d_rgb(noisy.astype(np.float64), 30 / 255)
else:
    model, _ = resolve_model(name, "denoise")
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]
    tile = tile or tile_for_memory(model, size, size, 3, 4 * 2**30)
    overlap = preferred_overlap(model, tile) if overlap == "own" else int(overlap)
    start = time.perf_counter()
    task = get_task("denoise")
    restore_pixels(model, noisy, task=task, dtype=dtype,
                   tiling=model_tiling(model, task, tile, overlap, protocol=protocol))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "seconds_per_mp": seconds / (size * size / 1e6),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tile": tile, "overlap": overlap}))
"""

_MEMORY_CHILD = r"""
import resource, sys
import panet.restorer as restorer
from panet.cli import main
real_tiles = int(sys.argv[1])
original = restorer.resolve_model
def limited(*args, **kwargs):
    model, random = original(*args, **kwargs)
    forward, calls = model.forward, [0]
    def first_tiles_only(x):
        calls[0] += 1
        return forward(x) if calls[0] <= real_tiles else x.clone()
    model.forward = first_tiles_only
    return model, random
restorer.resolve_model = limited
status = main(sys.argv[2:])
print("PEAK_MIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "STATUS", status)
"""


def speed(args: argparse.Namespace) -> None:
    print(f"| model | precision | protocol | s / MP | peak MiB |  ({args.size}x{args.size} crop)")
    print("|---|---|---|---|---|")
    tiles = [("tiles", o) for o in args.overlaps.split(",")]
    protocols = tiles + ([("paper", "own")] if args.paper else [])
    # CBM3D needs the optional bm3d package (pip install -e ".[baselines]"); without it, no row
    cbm3d = [("cbm3d", "fp64", "-", "own")] if importlib.util.find_spec("bm3d") else []
    runs = cbm3d + [(m, p, proto, o) for m in args.models.split(",")
                    for p in args.precisions.split(",") for proto, o in protocols]
    for name, precision, protocol, overlap in runs:
        output = subprocess.run([sys.executable, "-c", _SPEED_CHILD, name, precision,
                                 "paper" if protocol == "paper" else "default", str(args.size),
                                 overlap, str(args.tile or 0)],
                                check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        label = (f"tiles {result['tile']}, overlap {result['overlap']}" if protocol == "tiles"
                 else protocol)
        print(f"| {name} | {precision} | {label} | {result['seconds_per_mp']:.0f} | "
              f"{result['peak_mib']:.0f} |", flush=True)


def memory(args: argparse.Namespace) -> None:
    import numpy as np

    from panet.io import save_image

    height = int(round((args.megapixels * 1e6 / 1.5) ** 0.5))
    width = int(round(height * 1.5))
    folder = tempfile.mkdtemp()
    source = os.path.join(folder, "big.png")
    rng = np.random.default_rng(0)
    base = rng.random((height // 8 + 1, width // 8 + 1, 3))   # smooth-ish synthetic photo
    image = np.kron(base, np.ones((8, 8, 1)))[:height, :width]
    save_image(source, np.clip(image + 0.05 * rng.standard_normal(image.shape), 0, 1))
    del image, base
    start = time.perf_counter()
    output = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(args.real_tiles), "restore", source, "-o",
         os.path.join(folder, "out.png"), "--task", "denoise", "--model", args.model,
         "--max-memory", str(args.max_memory), "--quiet"],
        capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = [line for line in output.stdout.splitlines() if line.startswith("PEAK_MIB")]
    if output.returncode or not peak:
        sys.exit(f"restore failed: {output.stderr.strip().splitlines()[-1:]}")
    peak_mib = float(peak[0].split()[1])
    print(f"{width}x{height} ({width * height / 1e6:.1f} MP), model {args.model}, "
          f"--max-memory {args.max_memory:g} GiB: peak {peak_mib:.0f} MiB "
          f"({'within' if peak_mib <= args.max_memory * 1024 else 'OVER'} budget), "
          f"{seconds:.0f} s with {args.real_tiles} real tiles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    one = parts.add_parser("speed")
    one.add_argument("--size", type=int, default=128)
    one.add_argument("--tile", type=int, help="tile size (default: what panet restore picks)")
    one.add_argument("--models", default="panet-s,panet")
    one.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32, bf16")
    one.add_argument("--overlaps", default="own", help="comma list of tile overlaps in px "
                     "('own': the model's, as panet restore)")
    one.add_argument("--no-paper", dest="paper", action="store_false",
                     help="leave out the authors' chop")
    two = parts.add_parser("memory")
    two.add_argument("--megapixels", type=float, default=24)
    two.add_argument("--max-memory", type=float, default=4.0)
    two.add_argument("--real-tiles", type=int, default=2)
    two.add_argument("--model", default="panet-s")
    args = parser.parse_args()
    speed(args) if args.part == "speed" else memory(args)


if __name__ == "__main__":
    main()
