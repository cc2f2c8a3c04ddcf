"""Score weight files on a configuration's validation crops (the check before shipping).

    python scripts/score_val.py configs/shipped/jpeg-color.yaml panet/weights/jpeg-color.safetensors \
        runs/cpu1-jpeg-color/model.safetensors --val .devpack/val

Prints the mean PSNR of each file on the fixed centre crops of the validation photos, with
the fixed degradation and the protocol that ``panet train`` validates with. New weights
replace the shipped ones only when they score higher here (never on offline-mini).
"""

from __future__ import annotations

import argparse
import json

import torch
import yaml

from panet.train.config import apply_overrides, build_config
from panet.train.loop import validation_psnr
from panet.train.warm_start import load_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("weights", nargs="+", help=".safetensors files or training checkpoints")
    parser.add_argument("--val", help="validation images (overrides data.val)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    config = build_config(apply_overrides(raw, [f"data.val={args.val}"] if args.val else []))
    scores = {path: round(validation_psnr(load_source(path), config), 4) for path in args.weights}
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
