"""Cost of candidate networks of the PANet family: restore time per megapixel and the time
of one training step, to choose what to train and ship (issue 6).

    python experiments/model_cost.py [--size 192] [--tiles 48,64] [--batch 16 --patch 48]

Each candidate is PANet with some of: features, ResBlocks, embedding reduction, pyramid
scales. Restoring uses blended tiles (overlap 8) and the authors' chop on a random
``size x size`` image; training times forward+backward+Adam on random batches.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from panet.models import count_parameters, create_model
from panet.tasks import get_task
from panet.inference import model_tiling, restore_pixels
from panet.train.loop import train_step

CANDIDATES = {
    "panet-s (64f, 8rb, r2, 5 levels)": {},
    "32f, 8rb, r4, 5 levels": dict(n_feats=32, reduction=4),
    "32f, 8rb, r4, (1, .75, .5)": dict(n_feats=32, reduction=4, scales=[1.0, 0.75, 0.5]),
    "48f, 10rb, r4, (1, .75, .5)": dict(n_feats=48, n_resblocks=10, reduction=4,
                                        scales=[1.0, 0.75, 0.5]),
    "32f, 8rb, no attention": dict(n_feats=32, attention_positions=[]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--tiles", default="48,64")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=48)
    args = parser.parse_args()
    image = np.random.default_rng(0).random((args.size, args.size, 3)).astype(np.float32)
    tiles = [int(t) for t in args.tiles.split(",")]
    header = ["candidate", "parameters"] + [f"tile {t} s/MP" for t in tiles] + \
        ["paper chop s/MP", f"train step s (b{args.batch}, {args.patch}²)"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    megapixels = args.size ** 2 / 1e6
    for name, options in CANDIDATES.items():
        torch.manual_seed(0)
        model = create_model("panet-s", **options).eval()
        cells = [name, f"{count_parameters(model):,}"]
        task = get_task("denoise")
        tilings = [model_tiling(model, task, t, 8) for t in tiles] + \
            [model_tiling(model, task, protocol="paper")]
        for tiling in tilings:
            start = time.perf_counter()
            restore_pixels(model, image, task=task, tiling=tiling)
            cells.append(f"{(time.perf_counter() - start) / megapixels:.0f}")
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        batch = [torch.rand(args.batch, 3, args.patch, args.patch) for _ in range(2)]
        train_step(model, optimizer, *batch, None)
        start = time.perf_counter()
        for _ in range(2):
            train_step(model, optimizer, *batch, None)
        cells.append(f"{(time.perf_counter() - start) / 2:.2f}")
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
