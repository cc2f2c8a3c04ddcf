"""Pack crops of the offline training photos into a small folder (for a remote trainer).

    python scripts/pack_train_crops.py OUT [--crops-per-mp 0.5] [--crop 512] [--holdout N]

Small photos are copied whole; large ones give a few deterministic ``crop x crop`` crops
(spread over the frame), so that the pack fits a size budget (a GPU machine that takes at
most 64 MiB of files, say: the defaults give about 45 MiB). The last ``--holdout`` small photos go to OUT/val instead of
OUT/train: a validation set to watch training with, disjoint from the training crops and
from the offline-mini test photos.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from panet.data.datasets import find_images
from panet.data.photos import default_root, prepared_sets
from panet.io import read_image, save_image


def crops_of(image: np.ndarray, crop: int, count: int) -> list[np.ndarray]:
    """``count`` deterministic ``crop x crop`` crops (the whole image if it is smaller)."""
    height, width = image.shape[:2]
    if height <= crop or width <= crop:
        return [image]
    rng = np.random.default_rng(height * 10_007 + width)
    return [image[top:top + crop, left:left + crop] for top, left in
            zip(rng.integers(0, height - crop + 1, count), rng.integers(0, width - crop + 1, count))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--source", default=os.path.join(default_root(), "offline-train"))
    parser.add_argument("--whole-below-mp", type=float, default=0.6,
                        help="photos smaller than this (megapixels) are kept whole")
    parser.add_argument("--crops-per-mp", type=float, default=0.5)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--holdout", type=int, default=3)
    args = parser.parse_args()
    default = os.path.join(default_root(), "offline-train")
    if os.path.abspath(args.source) == os.path.abspath(default):
        # the held-out photos are the last small ones: a partly prepared set would hold out
        # other photos, and the pack would not be the one the cards and logs describe
        train = next(row for row in prepared_sets() if row["role"] == "train")
        if train["prepared"] < train["listed"]:
            raise SystemExit(f"pack_train_crops: {train['prepared']} of {train['listed']} "
                             "offline-train photos are prepared; run 'panet data fetch train' "
                             "first (it says what is missing)")
    try:
        paths = find_images(args.source)
    except ValueError as error:
        raise SystemExit(f"pack_train_crops: {error}") from None
    small = [p for p in paths if os.path.getsize(p) < 700_000]
    held = set(small[-args.holdout:]) if args.holdout else set()
    for sub in ("train", "val"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    written = 0
    for path in paths:
        image = read_image(path)
        name = os.path.splitext(os.path.basename(path))[0]
        megapixels = image.shape[0] * image.shape[1] / 1e6
        pieces = [image] if megapixels < args.whole_below_mp else \
            crops_of(image, args.crop, max(1, int(round(args.crops_per_mp * megapixels))))
        for index, piece in enumerate(pieces):
            target = os.path.join(args.out, "val" if path in held else "train",
                                  f"{name}-{index}.png")
            save_image(target, piece)
            written += os.path.getsize(target)
    print(f"{written / 2**20:.1f} MiB in {args.out}")


if __name__ == "__main__":
    main()
