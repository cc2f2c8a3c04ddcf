"""Additive white Gaussian noise, as in the paper's noisy inputs."""

from __future__ import annotations

import numpy as np
import torch

from panet.degradations._arrays import Image, as_float, to_levels


def add_gaussian_noise(image: Image, sigma: float | torch.Tensor, *, seed: int | None = 0,
                       clip: bool = True) -> Image:
    """``image + sigma/255 * N(0, 1)``; by default clipped and rounded to 8 bits.

    The paper's noisy inputs were 8-bit PNG files, so clipped and rounded (``clip=True``);
    ``clip=False`` keeps the unclipped float values. The same ``seed`` gives the same noise
    (numpy and torch draw different numbers); ``seed=None`` draws fresh randomness. For a
    batched tensor, ``sigma`` may be a tensor with one level per image (checked for
    negative values only when it is on the CPU).

    >>> noisy = add_gaussian_noise(np.full((4, 4, 3), 0.5), 25)
    >>> bool(np.all(noisy * 255 == np.round(noisy * 255)))
    True
    """
    image = as_float(image)
    if isinstance(image, torch.Tensor):
        generator = None
        if seed is not None:
            generator = torch.Generator(device=image.device).manual_seed(seed)
        noise = torch.randn(image.shape, generator=generator, device=image.device,
                            dtype=image.dtype)
        if not isinstance(sigma, torch.Tensor) or sigma.device.type == "cpu":
            if bool((torch.as_tensor(sigma) < 0).any()):
                raise ValueError(f"noise level must be non-negative, got {sigma}")
        # levels already on an accelerator are the caller's to check: reading them back
        # here would make the host wait for the device at every batch
        level = torch.as_tensor(sigma, dtype=image.dtype, device=image.device)
        if level.dim() == 1:
            level = level.view(-1, *([1] * (image.dim() - 1)))
        noisy = image + noise * (level / 255.0)
    else:
        if np.any(np.asarray(sigma) < 0):
            raise ValueError(f"noise level must be non-negative, got {sigma}")
        rng = np.random.default_rng(seed)
        noisy = image + rng.standard_normal(image.shape) * (float(sigma) / 255.0)
        noisy = noisy.astype(image.dtype, copy=False)
    return to_levels(noisy) if clip else noisy


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Estimate the standard deviation (0-255 scale) of white Gaussian noise in an
    ``H x W x C`` float image in [0, 1], by Donoho's rule: the median absolute finest-scale
    diagonal Haar coefficient over 0.6745. Image detail biases it upwards a little; the
    median keeps edges from dominating.

    >>> rng = np.random.default_rng(0)
    >>> smooth = np.tile(np.linspace(0.2, 0.8, 256), (256, 1))[..., None]
    >>> round(estimate_noise_sigma(smooth + rng.normal(0, 25 / 255, smooth.shape)))
    25
    """
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
    if height < 2 or width < 2:
        raise ValueError("the image is too small to estimate its noise")
    p = pixels[:height, :width]
    diagonal = (p[0::2, 0::2] - p[0::2, 1::2] - p[1::2, 0::2] + p[1::2, 1::2]) / 2
    return float(np.median(np.abs(diagonal)) / 0.6745 * 255)
