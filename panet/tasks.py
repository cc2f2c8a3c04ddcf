"""Restoration tasks as objects: the one place that knows, for each task, its degradation,
how its levels are written and labelled, how it is scored, which images it takes, the
authors' chop threshold and the classical methods it is compared with.

Two names matter:

* a **task** (:data:`TASKS`) is what ``panet eval`` scores: ``denoise``, ``denoise-gray``,
  ``demosaic``, ``jpeg`` (the paper's CAR, on Y), ``jpeg-color`` and ``sr``;
* a **family** (:data:`FAMILIES`) is what a network does and what ``panet restore``,
  ``panet demo`` and ``task.type`` of a training configuration name: ``denoise``,
  ``demosaic``, ``jpeg`` and ``sr``. Restoring picks the model by the image's channels
  (:func:`for_images` gives the task that scores such images).

>>> task = get_task("denoise")
>>> task.parse_level("25"), task.label(25.0), task.family
(25.0, 'σ25', 'denoise')
>>> for_images("jpeg", channels=3).name, for_images("jpeg", channels=1).name
('jpeg-color', 'jpeg')
"""

from __future__ import annotations

from dataclasses import dataclass

from panet.data.datasets import Demosaic, Denoise, JPEGArtifacts, SuperResolution
from panet.degradations import BAYER_PATTERNS

__all__ = ["Task", "DenoiseTask", "DemosaicTask", "JPEGTask", "SuperResolutionTask", "TASKS",
           "FAMILIES", "get_task", "for_images", "check_family"]

Level = float | int | str


@dataclass(frozen=True)
class Task:
    """One restoration task; subclasses define its levels and degradation.

    Attributes:
        name: the task's name on the command line and in reports.
        title: a one-line description (the caption of result tables).
        family: what the network does (``denoise``, ``demosaic``, ``jpeg``, ``sr``).
        channels: 3, or 1 when the test images are made gray (full-range luma) first.
        y: scored on the BT.601 Y channel (else on all channels).
        default_level: the level a demo uses when none is given.
        baselines: the classical methods ``panet eval`` runs beside the networks.
        paper_min_pixels: the authors' chop threshold (SPEC §4).
    """

    name: str
    title: str
    family: str
    channels: int = 3
    y: bool = False
    default_level: Level = 0
    baselines: tuple[str, ...] = ()
    paper_min_pixels: int = 6400

    @property
    def model_channels(self) -> int:
        """Channels of the network that restores this task's degraded images."""
        return 1 if self.channels == 1 else 3

    def parse_level(self, text: str) -> Level:
        """A level as written on the command line; ``ValueError`` for a bad one."""
        raise NotImplementedError

    def label(self, level: Level) -> str:
        """The level as table headers show it."""
        return str(level)

    def describe(self, level: Level) -> str:
        """The degraded input in words (demo output)."""
        raise NotImplementedError

    def degradation(self, level: Level):
        """The seeded degradation at ``level``: ``(clean, rng) -> (degraded, target)``."""
        raise NotImplementedError

    def shave(self, level: Level) -> int:
        """Border pixels left out of the scores."""
        return 0


@dataclass(frozen=True)
class DenoiseTask(Task):
    """Additive white Gaussian noise; 8-bit clipped noisy inputs as the paper's files."""

    family: str = "denoise"
    default_level: Level = 25.0
    baselines: tuple[str, ...] = ("input", "cbm3d")
    paper_min_pixels: int = 6800

    def parse_level(self, text: str) -> float:
        value = float(text)
        if not 0 <= value <= 255:
            raise ValueError(f"noise sigma must be from 0 to 255, got {text}")
        return value

    def label(self, level: Level) -> str:
        return f"σ{float(level):g}"

    def describe(self, level: Level) -> str:
        return f"noisy input (sigma {float(level):g})"

    def degradation(self, level: Level) -> Denoise:
        return Denoise(sigma=float(level), clip=True)


@dataclass(frozen=True)
class DemosaicTask(Task):
    """A 3-channel Bayer mosaic with zeros where a colour is not sampled."""

    family: str = "demosaic"
    default_level: Level = "RGGB"
    baselines: tuple[str, ...] = ("menon", "malvar", "bilinear")

    def parse_level(self, text: str) -> str:
        if str(text).upper() not in BAYER_PATTERNS:
            raise ValueError(f"unknown Bayer pattern {text!r}; known: "
                             f"{', '.join(BAYER_PATTERNS)}")
        return str(text).upper()

    def describe(self, level: Level) -> str:
        return f"{level} mosaic (zeros where unsampled)"

    def degradation(self, level: Level) -> Demosaic:
        return Demosaic(pattern=str(level))


@dataclass(frozen=True)
class JPEGTask(Task):
    """A JPEG round trip (4:2:0); ``gray_y`` compresses and scores the Y channel only."""

    family: str = "jpeg"
    gray_y: bool = True
    default_level: Level = 20
    baselines: tuple[str, ...] = ("input", "bm3d-deblock")

    @property
    def model_channels(self) -> int:
        return 1 if self.gray_y else 3

    def parse_level(self, text: str) -> int:
        value = int(text)
        if not 1 <= value <= 100:
            raise ValueError(f"JPEG quality must be from 1 to 100, got {value}")
        return value

    def label(self, level: Level) -> str:
        return f"q{level}"

    def describe(self, level: Level) -> str:
        return f"JPEG at quality {level}"

    def degradation(self, level: Level) -> JPEGArtifacts:
        return JPEGArtifacts(quality=int(level), gray_y=self.gray_y)


@dataclass(frozen=True)
class SuperResolutionTask(Task):
    """Matlab-style bicubic downscaling; scored on Y with a border shave of the scale."""

    family: str = "sr"
    y: bool = True
    default_level: Level = 2
    baselines: tuple[str, ...] = ("bicubic",)

    def parse_level(self, text: str) -> int:
        value = int(text)
        if value < 2:
            raise ValueError(f"SR scale must be 2 or more, got {value}")
        return value

    def label(self, level: Level) -> str:
        return f"×{level}"

    def describe(self, level: Level) -> str:
        return f"bicubic x{level} upscaling"

    def degradation(self, level: Level) -> SuperResolution:
        return SuperResolution(scale=int(level))

    def shave(self, level: Level) -> int:
        return int(level)


TASKS: dict[str, Task] = {task.name: task for task in (
    DenoiseTask("denoise", "Colour denoising (AWGN, 8-bit clipped noisy input)"),
    DenoiseTask("denoise-gray", "Grayscale denoising (AWGN, 8-bit clipped noisy input; luma "
                "of the test photos)", channels=1),
    DemosaicTask("demosaic", "Demosaicing"),
    JPEGTask("jpeg", "JPEG artifact reduction on Y", gray_y=True),
    JPEGTask("jpeg-color", "JPEG artifact reduction, colour", gray_y=False),
    SuperResolutionTask("sr", "Super-resolution (Matlab bicubic LR, Y, shave = scale)"),
)}

#: What networks do (``panet restore --task``, ``task.type`` of a training configuration).
FAMILIES: tuple[str, ...] = ("denoise", "demosaic", "jpeg", "sr")


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def check_family(family: str) -> str:
    """``family`` itself if networks do it; ``ValueError`` otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task {family!r}; use {', '.join(FAMILIES)}")
    return family


def for_images(family: str, channels: int = 3) -> Task:
    """The task that degrades and scores images of ``channels`` channels the way a
    ``family`` network restores them (gray images: the gray denoiser, the Y-channel JPEG
    task; colour images: colour denoising, colour JPEG)."""
    check_family(family)
    gray = channels == 1
    return TASKS[{"denoise": "denoise-gray" if gray else "denoise",
                  "jpeg": "jpeg" if gray else "jpeg-color"}.get(family, family)]
