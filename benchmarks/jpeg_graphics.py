"""Colour JPEG on drawn pictures rather than photos: does a colour JPEG model beat the
decoder on flat colours, sharp edges and text?

Two pictures: the bundled demo picture (``panet demo --task jpeg``) and a chart drawn here
(panels, a bar chart, one-pixel grid lines and text), which no training set holds. Each is
coded at the given qualities with the same degradation as ``panet eval``. Each candidate
``jpeg-color`` colour network (a weights file or a training checkpoint), paired with the
shipped ``jpeg-y`` luma as ``panet restore`` pairs them (or with the ``--luma`` files),
restores it as the demo does (48-px tiles, consistent with the file), scored in RGB PSNR
against the picture::

    python benchmarks/jpeg_graphics.py OLD.safetensors NEW.safetensors --qualities 10,20,40
    python benchmarks/jpeg_graphics.py C.safetensors C.safetensors --luma Y1.safetensors \
        --luma Y2.safetensors

The photos' own score is ``scripts/score_val.py`` and the offline-mini card; this is the
drawn-picture check beside them. The chart's text is drawn with Pillow's own font, so its
scores can differ a little between Pillow builds.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image as PILImage, ImageDraw, ImageFont


def chart_picture(width: int = 192, height: int = 144) -> np.ndarray:
    """A small dashboard: header bar with white text, a bar chart in saturated colours on
    one-pixel grid lines, labels, and a coloured legend (RGB uint8, always the same)."""
    canvas = PILImage.new("RGB", (width, height), (246, 246, 242))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    draw.rectangle((0, 0, width - 1, 17), fill=(31, 78, 160))
    draw.text((5, 2), "Sales 2026 (units)", fill=(255, 255, 255), font=font)
    left, bottom, top = 24, height - 22, 28
    for level in range(5):
        y = bottom - level * (bottom - top) // 4
        draw.line((left, y, width - 60, y), fill=(200, 200, 200))
        draw.text((3, y - 6), str(level * 25), fill=(40, 40, 40), font=font)
    colours = [(220, 40, 40), (240, 160, 20), (40, 170, 60), (30, 120, 220), (150, 60, 190)]
    values = [0.8, 0.55, 0.95, 0.35, 0.7]
    for index, (colour, value) in enumerate(zip(colours, values)):
        x = left + 6 + index * 22
        draw.rectangle((x, bottom - int(value * (bottom - top)), x + 13, bottom), fill=colour)
        draw.text((x + 3, bottom + 4), "QWERT"[index], fill=(20, 20, 20), font=font)
    for index, colour in enumerate(colours):
        y = 30 + index * 16
        draw.ellipse((width - 54, y, width - 46, y + 8), fill=colour)
        draw.text((width - 42, y - 2), f"item {index + 1}", fill=(20, 20, 20), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="+", help="jpeg-color colour networks: weights "
                        "files or panet train checkpoints")
    parser.add_argument("--luma", action="append", default=None, metavar="FILE",
                        help="a Y-channel JPEG model for the luma instead of the shipped "
                        "jpeg-y; repeat it to give each weights file its own, in order")
    parser.add_argument("--qualities", default="10,20,40")
    args = parser.parse_args(argv)

    from panet.checkpoints import load_weights_file
    from panet.degradations.jpeg_constraint import standard_grid
    from panet.io import read_image, sample_image_path
    from panet.metrics import psnr
    from panet.models.composite import LumaChromaJPEG
    from panet.pretrained import load_pretrained, pretrained_entry
    from panet.inference import default_overlap, model_tiling, restore_pixels
    from panet.tasks import for_images

    luma_paths = args.luma or [None]
    if len(luma_paths) not in (1, len(args.weights)):
        parser.error("give one --luma, or one per weights file")
    luma_paths = luma_paths * (len(args.weights) // len(luma_paths))
    try:
        qualities = [int(q) for q in args.qualities.split(",")]
    except ValueError:
        parser.error(f"--qualities takes whole numbers, got {args.qualities!r}")
    shipped_luma = pretrained_entry("jpeg-y")
    if shipped_luma is None and None in luma_paths:
        parser.error("no shipped jpeg-y weights: give --luma")
    try:
        shipped = load_pretrained(shipped_luma) if None in luma_paths else None
        lumas = [load_weights_file(path) if path else shipped for path in luma_paths]
        models = [LumaChromaJPEG(load_weights_file(path), luma).eval()
                  for path, luma in zip(args.weights, lumas)]
    except ValueError as error:
        print(f"jpeg_graphics: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    pictures = {"demo picture": read_image(sample_image_path()),
                "chart": chart_picture().astype(np.float32) / 255}
    spec = for_images("jpeg", channels=3)
    def name(path: str) -> str:   # runs/NAME/model.safetensors is NAME; others as given
        return os.path.basename(os.path.dirname(os.path.abspath(path))) \
            if os.path.basename(path) == "model.safetensors" else path

    names = [name(path) + (f" + {name(luma)}" if luma else "")
             for path, luma in zip(args.weights, luma_paths)]
    print("| picture | quality | decoder | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for label, clean in pictures.items():
        for quality in qualities:
            degraded, _ = spec.degradation(quality)(clean, np.random.default_rng(0))
            scores = [psnr(restore_pixels(model, degraded, task=spec,
                                          tiling=model_tiling(model, spec, 48,
                                                              default_overlap(48)),
                                          jpeg_grid=standard_grid(quality),
                                          consistent=True)[0], clean)
                      for model in models]
            print(f"| {label} | {quality} | {psnr(degraded, clean):.2f} | "
                  + " | ".join(f"{s:.2f}" for s in scores) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
