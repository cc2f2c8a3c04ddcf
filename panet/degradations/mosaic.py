"""Bayer colour filter mosaics, as PANet takes them: 3 channels, zeros where not sampled."""

from __future__ import annotations

import functools

import numpy as np
import torch

from panet.degradations._arrays import Image, as_float, channels_of

#: Patterns name the colours of the top-left 2x2 cell, row by row.
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


def bayer_masks(height: int, width: int, pattern: str = "RGGB") -> np.ndarray:
    """Boolean ``3 x H x W`` masks: where R, G and B are sampled.

    >>> bayer_masks(2, 2, "GRBG")[0].astype(int).tolist()   # red at top right
    [[0, 1], [0, 0]]
    """
    pattern = pattern.upper()
    if pattern not in BAYER_PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; use one of {', '.join(BAYER_PATTERNS)}")
    masks = np.zeros((3, height, width), dtype=bool)
    for index, colour in enumerate(pattern):
        row, col = divmod(index, 2)
        masks["RGB".index(colour), row::2, col::2] = True
    return masks


@functools.lru_cache(maxsize=32)
def _mask_tensor(height: int, width: int, pattern: str, device: torch.device,
                 dtype: torch.dtype) -> torch.Tensor:
    """The masks as a tensor, kept per size and device: a training loop that mosaics every
    batch on a GPU uploads them once (an upload per batch would wait for the GPU)."""
    return torch.from_numpy(bayer_masks(height, width, pattern)).to(device, dtype)


def mosaic(image: Image, pattern: str = "RGGB") -> Image:
    """Keep each pixel's one sampled colour and zero the other two (3 channels out)."""
    image = as_float(image)
    if channels_of(image) != 3:
        raise ValueError(f"a Bayer mosaic needs an RGB image, got {channels_of(image)} channels")
    if isinstance(image, torch.Tensor):
        return image * _mask_tensor(*image.shape[-2:], pattern, image.device, image.dtype)
    height, width = image.shape[:2]
    return image * bayer_masks(height, width, pattern).transpose(1, 2, 0).astype(image.dtype)


def bayer_shift(pattern: str, target: str) -> tuple[int, int]:
    """Rows and columns to mirror in at the top and left so that a ``pattern`` mosaic
    reads as ``target``.

    >>> bayer_shift("GRBG", "RGGB"), bayer_shift("BGGR", "RGGB"), bayer_shift("RGGB", "RGGB")
    ((0, 1), (1, 1), (0, 0))
    """
    for name in (pattern, target):
        if name.upper() not in BAYER_PATTERNS:
            raise ValueError(f"unknown Bayer pattern {name!r}; known: {', '.join(BAYER_PATTERNS)}")
    red = {p: divmod(p.upper().index("R"), 2) for p in (pattern, target)}
    return ((red[pattern][0] - red[target][0]) % 2, (red[pattern][1] - red[target][1]) % 2)
