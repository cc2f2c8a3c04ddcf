"""Image quality metrics following the paper's protocol (SPEC §4)."""

from __future__ import annotations

import numpy as np

__all__ = ["quantize", "psnr"]


def quantize(image: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> 8-bit levels 0..255 as float64 (clamped and rounded, as scored)."""
    return np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0.0, 255.0)


def psnr(restored: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of two ``H x W x C`` images in [0, 1]: 8-bit, mean of per-channel MSE, peak 255.

    >>> a = np.zeros((2, 2, 3)); b = a.copy(); b[0, 0, 0] = 1.0
    >>> round(psnr(a, b), 4)  # channel MSEs 255^2/4, 0, 0 -> mean 255^2/12 -> 10*log10(12)
    10.7918
    """
    if restored.shape != reference.shape:
        raise ValueError(f"shapes differ: {restored.shape} vs {reference.shape}")
    error = quantize(restored) - quantize(reference)
    mse = float(np.mean(np.mean(error.reshape(-1, error.shape[-1]) ** 2, axis=0)))
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))
