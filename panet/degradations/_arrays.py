"""Small helpers shared by the degradations: dtype handling for numpy and torch inputs."""

from __future__ import annotations

import numpy as np
import torch

Image = np.ndarray | torch.Tensor


def as_float(image: Image) -> Image:
    """Float copy in [0, 1]: uint8 numpy arrays are divided by 255; others are converted."""
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got {image.dtype}")
        return image
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"expected uint8 or float in [0, 1], got {array.dtype}")
    return array


def channels_of(image: Image) -> int:
    """Number of channels: last axis for numpy (H x W x C), third from last for torch."""
    if isinstance(image, torch.Tensor):
        if image.dim() < 3:
            raise ValueError(f"expected a tensor ... x C x H x W, got shape {tuple(image.shape)}")
        return image.shape[-3]
    if image.ndim != 3:
        raise ValueError(f"expected an array H x W x C, got shape {image.shape}")
    return image.shape[-1]


def to_levels(image: Image) -> Image:
    """Clamp to [0, 1] and round to the 8-bit grid (values stay in [0, 1])."""
    if isinstance(image, torch.Tensor):
        return torch.round(image.clamp(0, 1) * 255) / 255
    return (np.round(np.clip(image, 0, 1) * 255) / 255).astype(image.dtype, copy=False)
