"""``panet attention-map``: draw where pyramid attention looks for one pixel."""

from __future__ import annotations

import argparse
import os
import sys

from panet.cli.common import CommandError, check_output, resolve_model


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from panet.attention.pyramid import pyramid_level_size
    from panet.data.datasets import to_gray
    from panet.evaluate.attention_map import (attention_blocks, attention_map_figure,
                                              query_attention)
    from panet.io import read_image
    from panet.inference import input_channels

    try:
        column, row = (int(v) for v in args.at.split(","))
    except ValueError:
        raise CommandError(f"--at takes X,Y pixel coordinates, got {args.at!r}") from None
    stem = os.path.splitext(os.path.basename(args.image))[0]
    output = args.output or f"{stem}_attention_{column}_{row}.png"
    check_output(args.image, output, args.overwrite)
    if os.path.splitext(output)[1].lower() != ".png":
        raise CommandError(f"{output}: the figure is written as PNG; name it .png")
    image = read_image(args.image)
    height, width = image.shape[:2]
    if not (0 <= column < width and 0 <= row < height):
        raise CommandError(f"--at {column},{row} is outside the {width}x{height} image")
    model, random_weights = resolve_model(args.model, "denoise", None)
    if random_weights:
        print(f"panet: warning: {args.model} has RANDOM weights; the map shows untrained "
              "attention", file=sys.stderr)
    if input_channels(model) == 1 and image.shape[2] == 3:
        image = to_gray(image)
    elif input_channels(model) == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    maps = query_attention(model, tensor, row, column, args.block)
    block = attention_blocks(model)[args.block]
    scales = tuple(s for s in block.scales if min(pyramid_level_size(height, width, s)) > 0)
    attention_map_figure(image, maps, row, column, scales, output,
                         f"{os.path.basename(args.image)}: attention block {args.block} of "
                         f"{args.model}")
    shares = ", ".join(f"x{s:g} {100 * float(m.sum()):.1f}%" for s, m in zip(scales, maps))
    print(f"{output}: weight per level {shares}")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    amap = commands.add_parser("attention-map", help="draw where pyramid attention looks "
                               "for one pixel, per pyramid level (paper Figure 8)")
    amap.add_argument("image", help="the picture to run the model on")
    amap.add_argument("--model", required=True, help="registered model name or weights file")
    amap.add_argument("--at", required=True, metavar="X,Y", help="query pixel (column,row)")
    amap.add_argument("--block", type=int, default=0, help="which attention block (0 = first)")
    amap.add_argument("-o", "--output", help="PNG to write (default IMAGE_attention_X_Y.png)")
    amap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    amap.set_defaults(run=run)
