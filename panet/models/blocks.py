"""Building blocks shared by PANet and PA-EDSR."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["conv3x3", "ResBlock", "MeanShift", "Upsampler"]


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 convolution with bias and 'same' zero padding."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class ResBlock(nn.Module):
    """conv3x3 -> activation -> conv3x3, scaled by ``res_scale`` and added to the input.

    The activation is passed in so that several blocks can share one instance, as the
    authors' denoising networks do with their PReLU.
    """

    def __init__(self, n_feats: int, activation: nn.Module, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(n_feats, n_feats), activation, conv3x3(n_feats, n_feats))
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class MeanShift(nn.Module):
    """Adds ``sign * mean`` per channel (EDSR's input/output normalisation, std 1)."""

    def __init__(self, mean: Sequence[float], sign: int) -> None:
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift.to(x.dtype)


class Upsampler(nn.Sequential):
    """EDSR upsampler: conv to ``s*s*C`` channels and pixel shuffle, per factor 2 or once for 3."""

    def __init__(self, scale: int, n_feats: int) -> None:
        if scale in (2, 4, 8):
            layers: list[nn.Module] = []
            for _ in range(scale.bit_length() - 1):
                layers += [conv3x3(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers = [conv3x3(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"upscaling factor must be 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)
