"""Synthetic training pictures: flat colours with sharp edges, as in graphics.

Natural photos rarely hold what drawings, charts and screenshots are made of: large flat
areas of saturated colour meeting at sharp edges, and lines one or two pixels wide. A
network trained on photos alone learns that chroma varies smoothly; on such pictures it
then blurs the colour edges that 4:2:0 JPEG already halved. The pictures here follow the
dead-leaves model (opaque shapes dropped on top of each other, sizes from a power law, so
there are edges at every scale; Matheron's model, used as training data for restoration
networks by Achddou et al., 2021), drawn with discs, axis-aligned rectangles and thin bars
over a two-colour gradient. ``data.synthetic: N`` adds N of them to the training photos.

>>> picture = dead_leaves(64, np.random.default_rng(0))
>>> picture.shape, picture.dtype, len(np.unique(picture.reshape(-1, 3), axis=0)) > 10
((64, 64, 3), dtype('uint8'), True)
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage, ImageDraw

__all__ = ["dead_leaves", "synthetic_pictures", "SYNTHETIC_SIZE"]

#: Side of each synthetic picture: room for several 48-px crops (96 px for SR x2 targets).
SYNTHETIC_SIZE = 256


def _radius(rng: np.random.Generator, smallest: float, largest: float) -> float:
    """A size drawn with density proportional to r**-3 on [smallest, largest] (the
    dead-leaves law that makes the picture look alike at every scale)."""
    low, high = smallest ** -2.0, largest ** -2.0
    return float((low - rng.uniform() * (low - high)) ** -0.5)


def dead_leaves(size: int, rng: np.random.Generator, shapes: int | None = None) -> np.ndarray:
    """One ``size x size x 3`` uint8 picture: a gradient between two random colours under
    ``shapes`` (default: one per 96 pixels, which hides most of the gradient) opaque discs,
    rectangles and 1-3 px bars in uniformly random colours, later shapes on top."""
    if size < 8:
        raise ValueError(f"synthetic pictures need at least 8 px, got {size}")
    start, end = rng.integers(0, 256, (2, 3))
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    if rng.uniform() < 0.5:
        ramp = ramp.transpose(1, 0, 2)
    background = np.round(start + (end - start) * ramp).astype(np.uint8)
    canvas = PILImage.fromarray(np.broadcast_to(background, (size, size, 3)).copy())
    draw = ImageDraw.Draw(canvas)
    for _ in range(shapes if shapes is not None else size * size // 96):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = rng.uniform(-0.1, 1.1, 2) * size
        kind = rng.uniform()
        if kind < 0.1:   # a thin bar, horizontal or vertical
            length, width = round(_radius(rng, 4, size / 2)), int(rng.integers(1, 4))
            left, top = round(x), round(y)   # whole pixels: a bar 1 px wide stays 1 px wide
            box = (left - length, top, left + length, top + width - 1) if rng.uniform() < 0.5 \
                else (left, top - length, left + width - 1, top + length)
            draw.rectangle(box, fill=colour)
            continue
        half_w = _radius(rng, 1.5, size / 4)
        half_h = half_w * float(np.exp(rng.uniform(-0.7, 0.7)))
        box = (x - half_w, y - half_h, x + half_w, y + half_h)
        (draw.ellipse if kind < 0.55 else draw.rectangle)(box, fill=colour)
    return np.asarray(canvas, dtype=np.uint8)


def synthetic_pictures(count: int, seed: int = 0,
                       size: int = SYNTHETIC_SIZE) -> list[np.ndarray]:
    """``count`` dead-leaves pictures (RGB uint8), the same for the same ``seed`` (and
    Pillow's rasteriser): the CPU loader and the device pipeline train on identical
    pictures."""
    if count < 0:
        raise ValueError(f"the number of synthetic pictures must be >= 0, got {count}")
    # a spawn key of its own: no other draw in the project (crops, noise) shares the stream
    return [dead_leaves(size, np.random.default_rng(np.random.SeedSequence(
        int(seed), spawn_key=(0x5D1E, k)))) for k in range(count)]
