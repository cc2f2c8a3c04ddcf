"""The methods that ``panet eval`` compares: networks and the classical baselines.

Every method is a small object with a ``name``, ``accepts(task, level)`` and
``__call__(degraded, task, level) -> restored`` working on ``H x W x C`` float images in
[0, 1]. Classical methods come from their maintained packages:

* CBM3D / BM3D - ``bm3d`` (Tampere University; **non-commercial licence**, so it is an
  optional extra: ``pip install "panet[baselines]"``), for denoising and, with a noise level
  tuned per JPEG quality on training photos, as a JPEG deblocker.
* Menon 2007, Malvar 2004 and bilinear demosaicing - ``colour-demosaicing`` (BSD-3).
* Matlab-style bicubic upscaling - :func:`panet.degradations.imresize`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from panet.degradations import imresize
from panet.inference import model_scale, model_tiling, restore_pixels
from panet.tasks import Level, get_task

__all__ = ["Method", "DegradedInput", "CBM3D", "BM3DDeblocker", "Demosaicer", "Bicubic",
           "Network", "BASELINES", "baseline", "DEBLOCKER_SIGMA", "MissingPackage"]


# BM3D noise level (0-255) per JPEG quality, tuned on offline-train crops by
# `python experiments/tune_deblocker.py` (see docs/evaluation.md); never on test images.
DEBLOCKER_SIGMA = {10: 20.0, 20: 12.0, 30: 8.0, 40: 6.0}


def same_level(a: Level, b: Level) -> bool:
    """Levels compare as numbers when they are numbers (50 == 50.0), else as names."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a).upper() == str(b).upper()


class MissingPackage(ValueError):
    """An optional package a baseline needs is not installed (one-line message)."""


def _optional(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingPackage(f"this baseline needs the {module!r} package: "
                             f'pip install "panet[{extra}]"') from error


class Method:
    """Base class: a named restoration method for some tasks."""

    name: str = "method"
    tasks: tuple[str, ...] = ()

    def accepts(self, task: str, level: Level) -> bool:
        return task in self.tasks

    def check_available(self) -> None:
        """Raise :class:`MissingPackage` when an optional package is absent."""

    def __call__(self, degraded: np.ndarray, task: str, level: Level) -> np.ndarray:
        raise NotImplementedError


@dataclass
class DegradedInput(Method):
    """The degraded image itself (the noisy photo, the JPEG file): the row to beat."""

    name: str = "input"
    tasks: tuple[str, ...] = ("denoise", "denoise-gray", "jpeg", "jpeg-color")

    def __call__(self, degraded, task, level):
        return degraded


@dataclass
class CBM3D(Method):
    """BM3D (gray) or CBM3D (colour, opponent colour space) at the known noise level."""

    name: str = "CBM3D"
    tasks: tuple[str, ...] = ("denoise", "denoise-gray")

    def check_available(self) -> None:
        _optional("bm3d", "baselines")

    def __call__(self, degraded, task, level):
        bm3d = _optional("bm3d", "baselines")
        sigma = float(level) / 255.0
        if degraded.shape[2] == 3 and (degraded == degraded[..., :1]).all():
            # A gray photo in RGB (a colour JPEG of a gray image is one): CBM3D's opponent
            # colour transform divides by the range of its chroma channels, which is 0 here.
            return np.repeat(self(degraded[..., :1], task, level), 3, axis=2)
        if degraded.shape[2] == 3:
            out = bm3d.bm3d_rgb(degraded.astype(np.float64), sigma)
        else:
            out = bm3d.bm3d(degraded[..., 0].astype(np.float64), sigma)[..., None]
        return np.clip(out, 0, 1).astype(np.float32)


@dataclass
class BM3DDeblocker(Method):
    """BM3D used as a JPEG deblocker, with a noise level tuned per quality (on training
    photos, see :data:`DEBLOCKER_SIGMA`; other qualities are interpolated)."""

    name: str = "BM3D deblocker"
    tasks: tuple[str, ...] = ("jpeg", "jpeg-color")
    sigmas: dict[int, float] = field(default_factory=lambda: dict(DEBLOCKER_SIGMA))

    def check_available(self) -> None:
        _optional("bm3d", "baselines")

    def sigma_for(self, quality: int) -> float:
        known = sorted(self.sigmas)
        return float(np.interp(quality, known, [self.sigmas[q] for q in known]))

    def __call__(self, degraded, task, level):
        return CBM3D()(degraded, "denoise", self.sigma_for(int(level)))


def _colour_demosaicing():
    """The ``colour_demosaicing`` package, imported without the warning that its ``colour``
    dependency gives when matplotlib (which the demosaicers do not use) is not installed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _optional("colour_demosaicing", "baselines")


_DEMOSAICERS = {"menon": ("Menon 2007", "demosaicing_CFA_Bayer_Menon2007"),
                "malvar": ("Malvar 2004", "demosaicing_CFA_Bayer_Malvar2004"),
                "bilinear": ("bilinear", "demosaicing_CFA_Bayer_bilinear")}


@dataclass
class Demosaicer(Method):
    """A classical Bayer demosaicer from ``colour-demosaicing`` (menon, malvar, bilinear)."""

    algorithm: str = "menon"
    tasks: tuple[str, ...] = ("demosaic",)

    def __post_init__(self) -> None:
        if self.algorithm not in _DEMOSAICERS:
            raise ValueError(f"unknown demosaicer {self.algorithm!r}; "
                             f"known: {', '.join(_DEMOSAICERS)}")
        self.name = _DEMOSAICERS[self.algorithm][0]

    def check_available(self) -> None:
        _colour_demosaicing()

    def __call__(self, degraded, task, level):
        package = _colour_demosaicing()
        raw = degraded.sum(axis=2) if degraded.shape[2] == 3 else degraded[..., 0]
        out = getattr(package, _DEMOSAICERS[self.algorithm][1])(raw.astype(np.float64),
                                                                str(level))
        return np.clip(out, 0, 1).astype(np.float32)


@dataclass
class Bicubic(Method):
    """Matlab-style bicubic upscaling of the low-resolution input."""

    name: str = "bicubic"
    tasks: tuple[str, ...] = ("sr",)

    def __call__(self, degraded, task, level):
        return np.clip(imresize(degraded, int(level)), 0, 1).astype(np.float32)


@dataclass
class Network(Method):
    """A restoration network run through :func:`panet.inference.restore_pixels`.

    ``protocol="paper"`` is the authors' chop (SPEC §4); otherwise tiles of ``tile`` pixels.
    A network with a fixed level (``level``, e.g. a sigma-50 denoiser) only fills that
    column; ``None`` means blind (every level of its task). ``consistency`` keeps what the
    degraded input says about the original, as ``panet restore`` does: a JPEG task's
    output stays within the input's quantisation intervals, an SR output shrinks back to
    its input, a demosaiced one keeps the mosaic's samples; never with the paper's protocol,
    which is the authors' method as published."""

    name: str = "network"
    model: nn.Module | None = None
    task: str = "denoise"
    level: Level | None = None
    protocol: str = "paper"
    tile: int | None = None
    overlap: int | None = None   # None: the model's own (as panet restore)
    ensemble: bool = False
    dtype: torch.dtype | None = None
    consistency: bool = True

    def accepts(self, task, level):
        if task != self.task:
            return False
        if get_task(task).upscales:
            return int(level) == model_scale(self.model)
        return self.level is None or same_level(self.level, level)

    def __call__(self, degraded, task, level):
        # the network's family: denoise-gray images go through the denoiser
        spec = get_task(task)
        tiling = model_tiling(self.model, spec, self.tile, self.overlap, self.ensemble,
                              self.protocol)
        consistent = self.consistency and self.protocol != "paper"
        out, _ = restore_pixels(self.model, degraded, task=spec,
                                pattern=spec.bayer_pattern(level), tiling=tiling,
                                dtype=self.dtype, consistent=consistent,
                                jpeg_grid=spec.jpeg_grid(level) if consistent else None)
        return out


BASELINES = {
    "input": DegradedInput,
    "cbm3d": CBM3D,
    "bm3d-deblock": BM3DDeblocker,
    "menon": lambda: Demosaicer("menon"),
    "malvar": lambda: Demosaicer("malvar"),
    "bilinear": lambda: Demosaicer("bilinear"),
    "bicubic": Bicubic,
}


def baseline(name: str) -> Method:
    """A classical method by its command-line name (see :data:`BASELINES`).

    >>> baseline("menon").name
    'Menon 2007'
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return BASELINES[name]()
