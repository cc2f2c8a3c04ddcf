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

from panet.io import read_image, sample_image_path
from panet.metrics import psnr, ssim
from panet.models.card import model_card
from panet.tasks import FAMILIES, check_family, for_images

__all__ = ["DemoResult", "run_demo", "DEFAULT_LEVELS"]

#: The level each task's demo uses when none is given (sigma, pattern, quality, scale).
DEFAULT_LEVELS = {family: for_images(family).default_level for family in FAMILIES}


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


def _degradation(family: str, level):
    """The task's degradation (same code as training and ``panet eval``) and a label;
    ``level`` is checked by that task's parser (``ValueError`` for a bad one)."""
    spec = for_images(family, channels=3)   # the demo's picture is in colour
    try:
        value = spec.parse_level(str(level))
    except ValueError as error:
        raise ValueError(f"level {level!r} does not suit task {family}: {error}") from None
    return value, spec.degradation(value), spec.describe(value)


def run_demo(task: str = "denoise", level=None, image: str | None = None,
             seed: int = 0) -> DemoResult:
    """Degrade ``image`` (default: the bundled picture) for ``task`` at ``level``, restore
    it with the task's shipped model exactly as ``panet restore`` would, and score both.

    Raises ``ValueError`` when no shipped weights exist for the task (or the image is
    unusable)."""
    from panet.pretrained import default_for
    from panet.inference import model_tiling, restore_pixels, tile_for_memory
    from panet.pretrained import resolve_model

    check_family(task)
    level, degradation, label = _degradation(task, DEFAULT_LEVELS[task] if level is None
                                             else level)
    spec = for_images(task, channels=3)
    path = image or sample_image_path()
    clean = spec.prepare_clean(read_image(path), level, path)
    degraded, clean = degradation(clean, np.random.default_rng(seed))
    scale = int(level) if spec.upscales else None
    if default_for(task, scale) is None:   # no registry fallback: random weights prove nothing
        raise ValueError(f"no shipped weights for task {task} at level {level}; the demo "
                         "needs them")
    model, _ = resolve_model(None, task, scale, clean.shape[2])
    name = model_card(model).shipped_name
    height, width, channels = degraded.shape
    tile = tile_for_memory(model, height, width, channels, 4 * 2**30)
    start = time.perf_counter()
    # kept consistent with the input, as panet restore does (a JPEG to its quantisation)
    restored, _ = restore_pixels(model, degraded, task=spec, pattern=spec.bayer_pattern(level),
                                 tiling=model_tiling(model, spec, tile),   # its own overlap
                                 jpeg_grid=spec.jpeg_grid(level), consistent=True)
    seconds = time.perf_counter() - start
    y, shave = spec.y, spec.shave(level)
    baseline = spec.input_baseline(degraded, level)
    return DemoResult(path, name, label, degraded, restored,
                      psnr(baseline, clean, y=y, shave=shave),
                      psnr(restored, clean, y=y, shave=shave),
                      ssim(baseline, clean, y=y, shave=shave),
                      ssim(restored, clean, y=y, shave=shave), seconds)
