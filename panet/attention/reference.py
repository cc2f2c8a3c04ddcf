"""A slow, full-matrix pyramid attention used as the yardstick in tests and benchmarks.

It follows the paper's convolutional formulation rather than our matrix one: key patches
become convolution filters, the score map of every key is one output channel of a
convolution over the query features, the softmax runs over all channels at once, and the
value patches are pasted back with a transposed convolution. Patches are cut by explicit
shifts (no ``unfold``), and pyramid sizes are computed here again, so the two
implementations share nothing but the module's parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from panet.attention.pyramid import PyramidAttention

__all__ = ["reference_pyramid_attention"]


def _patches(features: torch.Tensor, size: int) -> torch.Tensor:
    """All ``size x size`` zero-padded patches of a 1 x C x h x w map: (h*w) x C x size x size."""
    _, channels, height, width = features.shape
    pad = size // 2
    padded = F.pad(features, (pad, pad, pad, pad))
    patches = features.new_empty(height, width, channels, size, size)
    for dy in range(size):
        for dx in range(size):
            patches[:, :, :, dy, dx] = padded[0, :, dy:dy + height, dx:dx + width].permute(1, 2, 0)
    return patches.reshape(height * width, channels, size, size)


def _level(x: torch.Tensor, scale: float, resample: str) -> torch.Tensor | None:
    height = int(math.floor(x.shape[2] * scale))
    width = int(math.floor(x.shape[3] * scale))
    if height == 0 or width == 0:
        return None
    if scale == 1.0:
        return x
    if resample == "legacy":
        # PyTorch 1.1 behaviour: the step is derived from the floored output size.
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False,
                             recompute_scale_factor=True)
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


@torch.no_grad()
def reference_pyramid_attention(module: PyramidAttention, x: torch.Tensor) -> torch.Tensor:
    """Pyramid attention of ``module`` on ``x``, building every score map in full.

    Memory grows with the square of the pixel count: use it on small inputs only.
    """
    size, pad = module.patch_size, module.patch_size // 2
    outputs = []
    for sample in x.split(1):
        query = module.query(sample)
        key_filters, value_filters = [], []
        for scale in module.scales:
            level = _level(sample, scale, module.resample)
            if level is None:
                continue
            keys = _patches(module.key(level), size)
            norms = keys.flatten(1).norm(dim=1).clamp_min(module.key_eps)
            key_filters.append(keys / norms[:, None, None, None])
            value_filters.append(_patches(module.value(level), size))
        scores = F.conv2d(query, torch.cat(key_filters), padding=pad)  # 1 x L x H x W
        weights = torch.softmax(module.softmax_scale * scores, dim=1)
        pasted = F.conv_transpose2d(weights, torch.cat(value_filters), padding=pad)
        outputs.append(pasted / module.output_divisor + module.res_scale * sample)
    return torch.cat(outputs)
