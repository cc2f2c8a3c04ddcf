"""Image quality metrics following the paper's evaluation protocol (SPEC §4).

Images are scored as 8-bit data: float images in [0, 1] are clamped and rounded to levels
0..255 first (uint8 arrays are taken as levels). PSNR over RGB is the mean of per-channel
MSE with peak 255; on Y it uses Matlab's BT.601 luma; SSIM is Wang et al. 2004 (11x11
Gaussian window, sigma 1.5, K1 0.01, K2 0.03, statistics over the 'valid' window region),
averaged over channels. ``shave`` removes that many pixels from every border first.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["quantize", "rgb_to_y", "psnr", "ssim", "prepare_pair"]

#: Matlab ``rgb2ycbcr`` luma for R, G, B in [0, 1], on the 0-255 scale: Y = 16 + c . rgb.
Y_COEFFICIENTS = np.array([65.481, 128.553, 24.966])


def quantize(image: np.ndarray) -> np.ndarray:
    """8-bit levels 0..255 as float64: uint8 as it is, floats in [0, 1] clamped and rounded."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float64)
    return np.clip(np.round(array.astype(np.float64) * 255.0), 0.0, 255.0)


def rgb_to_y(levels: np.ndarray) -> np.ndarray:
    """Matlab BT.601 luma (16..235) of ``H x W x 3`` levels 0..255, kept as float (``H x W x 1``).

    >>> rgb_to_y(np.array([[[255.0, 255.0, 255.0]]])).round(3).item()
    235.0
    """
    return (16.0 + levels @ Y_COEFFICIENTS / 255.0)[..., None]


def prepare_pair(restored: np.ndarray, reference: np.ndarray, *, y: bool = False,
                 shave: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Quantise, optionally convert to Y, and shave borders; checks shapes."""
    a, b = np.asarray(restored), np.asarray(reference)
    if a.ndim == 2:
        a = a[..., None]
    if b.ndim == 2:
        b = b[..., None]
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape[:2][::-1]}x{a.shape[2]} vs "
                         f"{b.shape[:2][::-1]}x{b.shape[2]} (width x height x channels)")
    if shave < 0:
        raise ValueError(f"shave must be non-negative, got {shave}")
    a, b = quantize(a), quantize(b)
    if y:
        if a.shape[2] == 3:
            a, b = rgb_to_y(a), rgb_to_y(b)
        elif a.shape[2] != 1:
            raise ValueError(f"Y needs RGB or gray images, got {a.shape[2]} channels")
    if shave:
        if min(a.shape[:2]) <= 2 * shave:
            raise ValueError(f"a border shave of {shave} leaves nothing of a "
                             f"{a.shape[1]}x{a.shape[0]} image")
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr(restored: np.ndarray, reference: np.ndarray, *, y: bool = False, shave: int = 0) -> float:
    """PSNR in dB (peak 255; mean of per-channel MSE).

    >>> a = np.zeros((2, 2, 3)); b = a.copy(); b[0, 0, 0] = 1.0
    >>> round(psnr(a, b), 4)  # channel MSEs 255^2/4, 0, 0 -> mean 255^2/12 -> 10*log10(12)
    10.7918
    """
    a, b = prepare_pair(restored, reference, y=y, shave=shave)
    mse = float(np.mean(np.mean((a - b).reshape(-1, a.shape[2]) ** 2, axis=0)))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    line = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    window = torch.outer(line, line)
    return window / window.sum()


def ssim(restored: np.ndarray, reference: np.ndarray, *, y: bool = False, shave: int = 0) -> float:
    """Mean SSIM of Wang et al. 2004 over the valid window positions, averaged over channels.

    >>> flat = np.full((16, 16, 1), 0.5)
    >>> ssim(flat, flat)
    1.0
    """
    a, b = prepare_pair(restored, reference, y=y, shave=shave)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()[None, None]
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[:, None]
    z = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[:, None]
    mean_x, mean_z = F.conv2d(x, window), F.conv2d(z, window)
    var_x = F.conv2d(x * x, window) - mean_x ** 2
    var_z = F.conv2d(z * z, window) - mean_z ** 2
    cov = F.conv2d(x * z, window) - mean_x * mean_z
    index = ((2 * mean_x * mean_z + c1) * (2 * cov + c2)) / \
        ((mean_x ** 2 + mean_z ** 2 + c1) * (var_x + var_z + c2))
    return float(index.flatten(1).mean(dim=1).mean())
