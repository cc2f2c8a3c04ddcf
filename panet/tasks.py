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
from typing import Any, ClassVar

import numpy as np

from panet.data.datasets import Demosaic, Denoise, JPEGArtifacts, SuperResolution
from panet.degradations import BAYER_PATTERNS, JPEGGrid, read_grid, standard_grid

__all__ = ["Task", "DenoiseTask", "DemosaicTask", "JPEGTask", "SuperResolutionTask", "TASKS",
           "FAMILIES", "get_task", "for_images", "check_family", "training_task"]

Level = float | int | str


def _range(value: Any) -> Any:
    """A training level from YAML: a ``[low, high]`` list is a range (a tuple)."""
    return tuple(value) if isinstance(value, list) and len(value) == 2 else value


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
    default_architecture: str = "panet"

    #: the network's output is larger than its input (super-resolution)
    upscales: ClassVar[bool] = False
    #: the degraded input can be scored against the clean image (not a mosaic)
    input_comparable: ClassVar[bool] = True
    #: what a level is called where a user gives it (``panet restore --sigma`` ...)
    level_option: ClassVar[str] = "level"
    #: what a level read from an image is, in words
    level_read: ClassVar[str] = "level read"

    def for_channels(self, channels: int) -> "Task":
        """The task of this family for images of ``channels`` channels (:func:`for_images`)."""
        return for_images(self.family, channels)

    def bayer_pattern(self, level: Level | None) -> str:
        """The Bayer pattern of an input at ``level`` (demosaicing only)."""
        return "RGGB"

    def upscale(self, level: Level | None) -> int | None:
        """The upscaling factor a level asks for (SR only; ``None``: any)."""
        return None

    def suggest_level(self, pixels: np.ndarray | None, path: str | None,
                      image_format: str | None) -> tuple[str, str]:
        """``(level, note)`` for a form: what can be read from the image (``None``: none
        given yet), and what it is."""
        level = None if pixels is None else self.measure_level(pixels, path or "", image_format)
        if level is None:
            return "", ""
        text = f"{level:.1f}" if isinstance(level, float) else str(level)
        return text, f"{self.level_read} from the image"

    @property
    def keeps_input(self) -> bool:
        """Whether :meth:`keep_input` can change a restoration (the subclass knows how its
        input was made and overrides it)."""
        return type(self).keep_input is not Task.keep_input

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

    def training_degradation(self, section: Any):
        """The degradation a training configuration's ``task`` section asks for (its
        levels may be ranges or lists: blind training)."""
        raise NotImplementedError

    def prepare_clean(self, clean: np.ndarray, level: Level, name: str = "image"
                      ) -> np.ndarray:
        """A clean image made fit for this task's degradation (``ValueError`` if it
        cannot be)."""
        return clean

    def input_baseline(self, degraded: np.ndarray, level: Level) -> np.ndarray:
        """The degraded input at the clean image's size, for scoring it."""
        return degraded

    def prepare_input(self, image: np.ndarray, pattern: str, trained_pattern: str | None
                      ) -> tuple[np.ndarray, tuple[int, int], str]:
        """An image to restore, made fit for the network: ``(image, (rows, columns) to
        cut off the output's top and left, note)``."""
        return image, (0, 0), ""

    def read_level(self, pixels: np.ndarray, path: str, image_format: str | None) -> str:
        """What can be read from the input about its level, when the user gave none."""
        return ""

    def keep_input(self, restored: np.ndarray, degraded: np.ndarray, *, pattern: str = "RGGB",
                   scale: int = 1, in_place: bool = False) -> np.ndarray:
        """``restored`` moved onto the images that could have given ``degraded``, where the
        task knows that exactly (a mosaic's samples, a bicubic shrink); unchanged where it
        does not (noise). ``in_place`` lets it write into ``restored`` (float32) rather than
        a new array. JPEG's intervals come from :meth:`jpeg_grid` instead."""
        return restored

    def jpeg_grid(self, level: Level) -> JPEGGrid | None:
        """The JPEG quantisation grid this task's degradation at ``level`` leaves
        (:mod:`panet.degradations.jpeg_constraint`); ``None`` for tasks that are not JPEG."""
        return None

    def file_jpeg_grid(self, path: str) -> JPEGGrid | None:
        """The JPEG quantisation grid of the file to restore, if it has one that the
        restoration may keep to; ``None`` otherwise."""
        return None

    def measure_level(self, pixels: np.ndarray, path: str, image_format: str | None
                      ) -> Level | None:
        """The level read from the input itself (``None`` where nothing can be read)."""
        return None


@dataclass(frozen=True)
class DenoiseTask(Task):
    """Additive white Gaussian noise; 8-bit clipped noisy inputs as the paper's files."""

    family: str = "denoise"
    default_level: Level = 25.0
    baselines: tuple[str, ...] = ("input", "cbm3d")
    paper_min_pixels: int = 6800
    level_option: ClassVar[str] = "sigma"
    level_read: ClassVar[str] = "noise sigma estimated"

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

    def training_degradation(self, section: Any) -> Denoise:
        return Denoise(_range(section.sigma), clip=section.clip)

    def read_level(self, pixels: np.ndarray, path: str, image_format: str | None) -> str:
        sigma = self.measure_level(pixels, path, image_format)
        if sigma is None:
            return "too small to estimate its noise level"
        return f"noise level estimated at sigma {sigma:.1f}"

    def measure_level(self, pixels: np.ndarray, path: str, image_format: str | None
                      ) -> float | None:
        from panet.degradations import estimate_noise_sigma

        return None if min(pixels.shape[:2]) < 2 else estimate_noise_sigma(pixels)


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

    input_comparable: ClassVar[bool] = False
    level_option: ClassVar[str] = "pattern"

    def bayer_pattern(self, level: Level | None) -> str:
        return self.parse_level(str(level)) if level is not None else str(self.default_level)

    def suggest_level(self, pixels: np.ndarray | None, path: str | None,
                      image_format: str | None) -> tuple[str, str]:
        return str(self.default_level), \
            f"Bayer pattern of the mosaic ({', '.join(BAYER_PATTERNS)})"

    def degradation(self, level: Level) -> Demosaic:
        return Demosaic(pattern=str(level))

    def training_degradation(self, section: Any) -> Demosaic:
        return Demosaic(section.pattern)

    def prepare_clean(self, clean: np.ndarray, level: Level, name: str = "image"
                      ) -> np.ndarray:
        if clean.shape[2] != 3:
            raise ValueError(f"{name}: demosaicing needs a colour image")
        return clean

    def prepare_input(self, image: np.ndarray, pattern: str, trained_pattern: str | None
                      ) -> tuple[np.ndarray, tuple[int, int], str]:
        from panet.degradations import bayer_masks, bayer_shift

        notes = []
        if image.shape[2] == 1:   # a raw Bayer frame -> the 3-channel mosaic networks take
            image = image * bayer_masks(*image.shape[:2], pattern).transpose(1, 2, 0).astype(
                np.float32)
            notes.append(f"raw Bayer input expanded with pattern {pattern}")
        shift = (0, 0)
        if trained_pattern and trained_pattern != pattern.upper():
            # Mirror one row and/or column in so the mosaic's phase becomes the trained
            # pattern's; the extra border is cut off the output.
            shift = bayer_shift(pattern, trained_pattern)
            image = np.pad(image, ((shift[0], 0), (shift[1], 0), (0, 0)), mode="reflect")
            notes.append(f"{pattern} mosaic shifted to the model's {trained_pattern}")
        return image, shift, "; ".join(notes)

    def keep_input(self, restored: np.ndarray, degraded: np.ndarray, *, pattern: str = "RGGB",
                   scale: int = 1, in_place: bool = False) -> np.ndarray:
        """The mosaic's own samples put back: each is the original's value at its pixel."""
        from panet.degradations import bayer_masks

        sampled = bayer_masks(*degraded.shape[:2], pattern).transpose(1, 2, 0)
        kept = restored if in_place and restored.dtype == np.float32 else \
            restored.astype(np.float32)
        np.copyto(kept, degraded, where=sampled)
        return kept


@dataclass(frozen=True)
class JPEGTask(Task):
    """A JPEG round trip (4:2:0); ``gray_y`` compresses and scores the Y channel only."""

    family: str = "jpeg"
    gray_y: bool = True
    default_level: Level = 20
    baselines: tuple[str, ...] = ("input", "bm3d-deblock")
    level_option: ClassVar[str] = "quality"
    level_read: ClassVar[str] = "JPEG quality read"

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

    def training_degradation(self, section: Any) -> JPEGArtifacts:
        return JPEGArtifacts(_range(section.quality), gray_y=section.gray_y)

    def read_level(self, pixels: np.ndarray, path: str, image_format: str | None) -> str:
        from panet.degradations import jpeg_quality

        found = jpeg_quality(path) if image_format == "JPEG" else None
        if not found:
            return ""
        return f"JPEG quality {found[0]} read from the file" + \
            ("" if found[1] else " (non-standard tables, nearest)")

    def jpeg_grid(self, level: Level) -> JPEGGrid:
        return standard_grid(int(level))

    def file_jpeg_grid(self, path: str) -> JPEGGrid | None:
        return read_grid(path)

    def measure_level(self, pixels: np.ndarray, path: str, image_format: str | None
                      ) -> int | None:
        from panet.degradations import jpeg_quality

        found = jpeg_quality(path) if image_format == "JPEG" else None
        return found[0] if found else None


@dataclass(frozen=True)
class SuperResolutionTask(Task):
    """Matlab-style bicubic downscaling; scored on Y with a border shave of the scale."""

    family: str = "sr"
    y: bool = True
    default_level: Level = 2
    baselines: tuple[str, ...] = ("bicubic",)
    default_architecture: str = "pa-edsr-x{scale}"
    upscales: ClassVar[bool] = True
    level_option: ClassVar[str] = "scale"

    def upscale(self, level: Level | None) -> int | None:
        return None if level is None else self.parse_level(str(level))

    def suggest_level(self, pixels: np.ndarray | None, path: str | None,
                      image_format: str | None) -> tuple[str, str]:
        return str(self.default_level), "upscaling factor"

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

    def training_degradation(self, section: Any) -> SuperResolution:
        return SuperResolution(section.scale)

    def shave(self, level: Level) -> int:
        return int(level)

    def prepare_clean(self, clean: np.ndarray, level: Level, name: str = "image"
                      ) -> np.ndarray:
        """Cropped to a multiple of the scale, so the LR image maps back exactly."""
        height, width = clean.shape[:2]
        return clean[:height - height % int(level), :width - width % int(level)]

    def input_baseline(self, degraded: np.ndarray, level: Level) -> np.ndarray:
        from panet.degradations import imresize

        return np.clip(imresize(degraded, int(level)), 0, 1)

    def keep_input(self, restored: np.ndarray, degraded: np.ndarray, *, pattern: str = "RGGB",
                   scale: int = 1, in_place: bool = False) -> np.ndarray:
        """The least change that makes ``restored`` shrink back to ``degraded`` (the bicubic
        downscaling the input was made with): :func:`project_onto_downscale`."""
        from panet.degradations.resize import project_onto_downscale

        return project_onto_downscale(restored, degraded, scale, in_place=in_place)


TASKS: dict[str, Task] = {task.name: task for task in (
    DenoiseTask("denoise", "Colour denoising (AWGN, 8-bit clipped noisy input)"),
    DenoiseTask("denoise-gray", "Grayscale denoising (AWGN, 8-bit clipped noisy input; luma "
                "of the test photos)", channels=1),
    DemosaicTask("demosaic", "Demosaicing"),
    JPEGTask("jpeg", "JPEG artifact reduction on Y", gray_y=True,
             default_architecture="panet-gray"),
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


def training_task(section: Any) -> Task:
    """The task a training configuration's ``task`` section (``type``, ``channels``,
    ``gray_y``) trains for and validates on."""
    family = check_family(section.type)
    y_only = getattr(section, "gray_y", False) and family == "jpeg"
    return for_images(family, 1 if section.channels == 1 or y_only else 3)


def for_images(family: str, channels: int = 3) -> Task:
    """The task that degrades and scores images of ``channels`` channels the way a
    ``family`` network restores them (gray images: the gray denoiser, the Y-channel JPEG
    task; colour images: colour denoising, colour JPEG)."""
    check_family(family)
    gray = channels == 1
    return TASKS[{"denoise": "denoise-gray" if gray else "denoise",
                  "jpeg": "jpeg" if gray else "jpeg-color"}.get(family, family)]
