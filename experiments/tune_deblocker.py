"""Tune BM3D's noise level per JPEG quality when it is used as a deblocker (the classical
CAR baseline of `panet eval`), on crops of the *training* photos only.

    python experiments/tune_deblocker.py [--images 8] [--crop 128]

Prints the mean Y PSNR of every (quality, sigma) pair and the best sigma per quality, to
be copied into ``DEBLOCKER_SIGMA`` in panet/evaluate/methods.py.
"""

from __future__ import annotations

import argparse

import numpy as np

from panet.data.datasets import JPEGArtifacts, RestorationDataset
from panet.data.photos import default_root, set_folder
from panet.evaluate import CBM3D
from panet.metrics import psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="training photos used")
    parser.add_argument("--crop", type=int, default=128, help="centre crop size")
    parser.add_argument("--qualities", default="10,20,30,40")
    parser.add_argument("--sigmas", default="4,6,8,10,12,15,18,20,25,30")
    args = parser.parse_args()
    from panet.data.datasets import find_images

    paths = find_images(set_folder(default_root(), "train"))
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]   # spread over the set
    sigmas = [float(s) for s in args.sigmas.split(",")]
    for quality in [int(q) for q in args.qualities.split(",")]:
        data = RestorationDataset(paths, JPEGArtifacts(quality=quality, gray_y=True),
                                  patch_size=args.crop, train=False, cache=False)
        pairs = [tuple(t.numpy().transpose(1, 2, 0) for t in data[i]) for i in range(len(data))]
        base = np.mean([psnr(jpeg, clean) for jpeg, clean in pairs])
        scores = {s: float(np.mean([psnr(CBM3D()(jpeg, "denoise", s), clean)
                                    for jpeg, clean in pairs])) for s in sigmas}
        best = max(scores, key=scores.get)
        print(f"q{quality}: JPEG {base:.2f} dB; " +
              ", ".join(f"σ{s:g} {v:.2f}" for s, v in scores.items()) +
              f" -> best σ {best:g} (+{scores[best] - base:.2f} dB)", flush=True)


if __name__ == "__main__":
    main()
