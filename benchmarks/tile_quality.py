"""How restoration quality depends on the tile size (attention only sees its tile).

    python benchmarks/tile_quality.py --model runs/short-panet-s-sigma50/model.safetensors \
        --sigma 50 --crop 128 --tiles 32,48,64,96 [--limit N]

On centre crops of the offline-mini photos (noisy at ``--sigma``, 8-bit clipped), each
tile size is compared with the clean image and with untiled inference (the whole crop at
once, where attention sees everything), and the authors' chop (SPEC §4) is added. Prints a
Markdown table. Data: ``panet data fetch test`` (offline-mini); ``--model`` may be any weights
file, such as ``panet/weights/denoise-color.safetensors``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from panet.data.datasets import Denoise, RestorationDataset, find_images
from panet.data.photos import default_root, set_folder
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import resolve_model
from panet.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sigma", type=float, default=50)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--tiles", default="32,48,64,96")
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    model, _ = resolve_model(args.model, "denoise")
    paths = find_images(set_folder(default_root(), "test"))[: args.limit]
    data = RestorationDataset(paths, Denoise(args.sigma), patch_size=args.crop, train=False,
                              cache=False)
    settings = [("untiled", dict(tile=None))] + \
        [(f"tile {t}, overlap {min(args.overlap, t // 2)}",
          dict(tile=t, overlap=min(args.overlap, t // 2))) for t in map(int, args.tiles.split(","))] + \
        [("paper chop (SPEC §4)", dict(protocol="paper"))]
    rows = {name: {"clean": [], "untiled": [], "seconds": 0.0} for name, _ in settings}
    for index in range(len(data)):
        noisy, clean = (t.numpy().transpose(1, 2, 0) for t in data[index])
        untiled = None
        for name, options in settings:
            start = time.perf_counter()
            task = get_task("denoise")
            out, _ = restore_pixels(model, noisy, task=task,
                                    tiling=model_tiling(model, task, **options))
            rows[name]["seconds"] += time.perf_counter() - start
            untiled = out if untiled is None else untiled
            rows[name]["clean"].append(psnr(out, clean))
            if name != "untiled":
                rows[name]["untiled"].append(psnr(out, untiled))
        print(f"{paths[index]}: " + ", ".join(f"{n} {r['clean'][-1]:.2f}"
                                               for n, r in rows.items()), flush=True)
    megapixels = len(data) * args.crop ** 2 / 1e6
    print(f"\n{len(data)} crops of {args.crop}x{args.crop}, sigma {args.sigma:g}\n")
    print("| setting | PSNR vs clean (dB) | PSNR vs untiled output (dB) | s / MP |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        versus = "—" if not row["untiled"] else f"{np.mean(row['untiled']):.2f}"
        print(f"| {name} | {np.mean(row['clean']):.2f} | {versus} | "
              f"{row['seconds'] / megapixels:.0f} |")


if __name__ == "__main__":
    main()
