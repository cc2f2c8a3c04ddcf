"""A restoration you can check: degrade a clean picture, restore it with the shipped
weights, and score both against the original.

>>> result = run_demo("denoise", 25)
>>> result.model, result.restored_psnr > result.degraded_psnr + 3
('denoise-color', True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from panet.data.datasets import Demosaic, Denoise, JPEGArtifacts, SuperResolution
from panet.degradations import imresize
from panet.io import read_image, sample_image_path
from panet.metrics import psnr, ssim

__all__ = ["DemoResult", "run_demo", "DEFAULT_LEVELS"]

#: The level each task's demo uses when none is given (sigma, pattern, quality, scale).
DEFAULT_LEVELS = {"denoise": 25.0, "demosaic": "RGGB", "jpeg": 20, "sr": 2}


@dataclass
class DemoResult:
    """What a demo did and how well: PSNR/SSIM in dB on 0-255 (SR: Y, shave = scale)."""

    image: str
    model: str
    degraded_label: str        # how the degraded image is scored (SR: bicubic upscaling)
    degraded: np.ndarray
    restored: np.ndarray
    degraded_psnr: float
    restored_psnr: float
    degraded_ssim: float
    restored_ssim: float
    seconds: float


def _degradation(task: str, level):
    if task == "denoise":
        return Denoise(float(level), clip=True), f"noisy input (sigma {float(level):g})"
    if task == "demosaic":
        return Demosaic(str(level).upper()), f"{str(level).upper()} mosaic (zeros where unsampled)"
    if task == "jpeg":
        return JPEGArtifacts(int(level), gray_y=False), f"JPEG at quality {int(level)}"
    if task == "sr":
        return SuperResolution(int(level)), f"bicubic x{int(level)} upscaling"
    raise ValueError(f"unknown task {task!r}; use denoise, demosaic, jpeg or sr")


def run_demo(task: str = "denoise", level=None, image: str | None = None,
             seed: int = 0) -> DemoResult:
    """Degrade ``image`` (default: the bundled picture) for ``task`` at ``level``, restore
    it with the task's shipped model exactly as ``panet restore`` would, and score both.

    Raises ``ValueError`` when no shipped weights exist for the task (or the image is
    unusable)."""
    from panet.restore import default_overlap, resolve_model, restore_pixels, tile_for_memory

    level = DEFAULT_LEVELS[task] if level is None else level
    path = image or sample_image_path()
    clean = read_image(path)
    degradation, label = _degradation(task, level)
    if task == "sr":
        height, width = clean.shape[:2]
        clean = clean[:height - height % int(level), :width - width % int(level)]
    if task == "demosaic" and clean.shape[2] != 3:
        raise ValueError(f"{path}: demosaicing needs a colour image")
    degraded, clean = degradation(clean, np.random.default_rng(seed))
    model, random_weights = resolve_model(None, task, int(level) if task == "sr" else None,
                                          clean.shape[2])
    name = getattr(model, "shipped_name", None)
    if random_weights or not name:
        raise ValueError(f"no shipped weights for task {task}; the demo needs them")
    height, width, channels = degraded.shape
    tile = tile_for_memory(model, height, width, channels, 4 * 2**30)
    start = time.perf_counter()
    restored, _ = restore_pixels(model, degraded, task=task, pattern=str(level), tile=tile,
                                 overlap=default_overlap(tile))
    seconds = time.perf_counter() - start
    y, shave = (True, int(level)) if task == "sr" else (False, 0)
    baseline = np.clip(imresize(degraded, int(level)), 0, 1) if task == "sr" else degraded
    return DemoResult(path, name, label, degraded, restored,
                      psnr(baseline, clean, y=y, shave=shave),
                      psnr(restored, clean, y=y, shave=shave),
                      ssim(baseline, clean, y=y, shave=shave),
                      ssim(restored, clean, y=y, shave=shave), seconds)
