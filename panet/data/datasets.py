"""Training and validation pairs made on the fly from clean images.

A *task* turns a clean crop into ``(degraded input, target)``; the dataset draws crops,
applies the paper's 8 flips/rotations and hands out tensors ``C x H x W`` in [0, 1]::

    from panet.data.datasets import Denoise, RestorationDataset
    train = RestorationDataset("~/.cache/panet/offline-train", Denoise((0, 55)), patch_size=48)
    val = RestorationDataset("~/.cache/panet/offline-mini", Denoise(50), train=False)

Crops are degraded after cropping (fast): JPEG blocks are aligned to the crop and SR
low-resolution crops see symmetric borders at the crop's edge, unlike whole-image files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from panet.data.synthetic import synthetic_pictures
from panet.degradations import add_gaussian_noise, imresize, jpeg_roundtrip, mosaic, to_levels
from panet.io import FORMATS, read_image
from panet.metrics import quantize, rgb_to_y

__all__ = ["Denoise", "Demosaic", "JPEGArtifacts", "SuperResolution", "RestorationDataset",
           "find_images", "to_gray", "dihedral", "training_levels", "synthetic_training_levels"]

#: A training level: fixed, a (low, high) range drawn uniformly, or a list drawn from.
LevelSpec = float | tuple[float, float] | Sequence[float]


def _draw(level: LevelSpec, rng: np.random.Generator) -> float:
    """A fixed level, a uniform draw from a (low, high) pair, or a choice from a list."""
    if isinstance(level, (int, float)):
        return float(level)
    if isinstance(level, tuple) and len(level) == 2:
        return float(rng.uniform(level[0], level[1]))
    return float(rng.choice(np.asarray(level, dtype=np.float64)))


@dataclass(frozen=True)
class Denoise:
    """Additive white Gaussian noise, sigma on 0-255 (fixed, (low, high) range, or list)."""

    sigma: LevelSpec = 50.0
    clip: bool = True       # 8-bit noisy inputs, as the paper's files

    scale = 1

    def __call__(self, clean: np.ndarray, rng: np.random.Generator):
        noisy = add_gaussian_noise(clean, _draw(self.sigma, rng), seed=int(rng.integers(2**63)),
                                   clip=self.clip)
        return noisy.astype(np.float32), clean


@dataclass(frozen=True)
class Demosaic:
    """3-channel Bayer mosaic with zeros (the paper's input); needs RGB images."""

    pattern: str = "RGGB"

    scale = 1

    def __call__(self, clean: np.ndarray, rng: np.random.Generator):
        return mosaic(clean, self.pattern).astype(np.float32), clean


@dataclass(frozen=True)
class JPEGArtifacts:
    """JPEG round trip at ``quality`` (fixed, range or list). ``gray_y`` works on the Y
    channel only (the paper's CAR setting): input and target are then one channel."""

    quality: LevelSpec = 10
    gray_y: bool = True

    scale = 1

    def __call__(self, clean: np.ndarray, rng: np.random.Generator):
        quality = int(round(_draw(self.quality, rng)))
        degraded = jpeg_roundtrip(clean, quality, gray_y=self.gray_y)
        if self.gray_y and clean.shape[2] == 3:
            clean = (np.round(rgb_to_y(quantize(clean))) / 255).astype(np.float32)
        return degraded.astype(np.float32), clean


@dataclass(frozen=True)
class SuperResolution:
    """Matlab-style bicubic downscaling by ``scale``, rounded to 8 bits (the LR input)."""

    scale: int = 2

    def __call__(self, clean: np.ndarray, rng: np.random.Generator):
        return to_levels(imresize(clean, 1.0 / self.scale)).astype(np.float32), clean


def find_images(source: str | os.PathLike | Sequence[str]) -> list[str]:
    """Image files in a folder (recursively, sorted) or the given list of paths."""
    if isinstance(source, (str, os.PathLike)):
        folder = os.path.expanduser(os.fspath(source))
        if not os.path.isdir(folder):
            raise ValueError(f"{folder}: no such folder")
        paths = sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files
                       if os.path.splitext(f)[1].lower() in FORMATS and not f.startswith("."))
    else:
        paths = [os.fspath(p) for p in source]
    if not paths:
        raise ValueError(f"no images found in {source}")
    return paths


def to_gray(image: np.ndarray) -> np.ndarray:
    """Full-range luma (0.299 R + 0.587 G + 0.114 B), as gray denoising sets are made."""
    if image.shape[2] == 1:
        return image
    return (image @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


def training_levels(path: str | np.ndarray, channels: int) -> np.ndarray:
    """An image file (or uint8 pixels) as the training sets see it: ``H x W x channels``
    uint8 (gray photos in a colour set get three equal channels; colour photos in a gray
    set, full-range luma)."""
    image = read_image(path) if isinstance(path, (str, os.PathLike)) else \
        np.asarray(path, dtype=np.float32) / 255
    image = to_gray(image) if channels == 1 else np.repeat(image, 3 // image.shape[2], 2)
    return np.round(image * 255).astype(np.uint8)


def synthetic_training_levels(count: int, seed: int,
                              channels: int) -> tuple[list[str], list[np.ndarray]]:
    """Names and pixels (as :func:`training_levels` gives photos) of the ``count``
    dead-leaves pictures of ``seed`` (:mod:`panet.data.synthetic`), for both pipelines."""
    return ([f"synthetic picture {k}" for k in range(count)],
            [training_levels(p, channels) for p in synthetic_pictures(count, seed)])


def dihedral(image, index: int, *, axes: tuple[int, int] = (0, 1), inverse: bool = False):
    """One of the 8 flips/rotations of a numpy array or a tensor over its (row, column)
    ``axes``: bit 4 of ``index`` transposes, bit 2 flips the rows, bit 1 the columns, in
    that order (0 is the identity); ``inverse`` undoes the same index.

    >>> a = np.arange(6).reshape(2, 3, 1)
    >>> dihedral(a, 5)[..., 0].tolist(), dihedral(dihedral(a, 6), 6, inverse=True).shape
    ([[3, 0], [4, 1], [5, 2]], (2, 3, 1))
    """
    rows, columns = axes
    tensor = isinstance(image, torch.Tensor)

    def flip(x, axis):
        return x.flip(axis) if tensor else np.flip(x, axis)

    steps = [(4, lambda x: x.swapaxes(rows, columns)), (2, lambda x: flip(x, rows)),
             (1, lambda x: flip(x, columns))]
    for bit, step in (reversed(steps) if inverse else steps):
        if index & bit:
            image = step(image)
    return image


class RestorationDataset(Dataset):
    """Pairs ``(degraded, target)`` as float32 tensors ``C x H x W`` in [0, 1].

    Args:
        images: a folder (searched recursively) or a list of image files.
        task: :class:`Denoise`, :class:`Demosaic`, :class:`JPEGArtifacts` or
            :class:`SuperResolution` (or any callable with the same signature).
        patch_size: size of the *input* crop (48 in the paper; SR targets are
            ``patch_size * scale``).
        channels: 3 for colour (gray images get three equal channels), 1 for gray
            (colour images are converted with full-range luma).
        train: random crops and flips, ``repeat`` samples per image per epoch; otherwise one
            deterministic centre crop of ``patch_size`` per image (``patch_size=None`` for the
            whole image), the same degradation every time.
        seed: all randomness derives from ``(seed, epoch, index)``: reproducible, resumable.
        synthetic: dead-leaves pictures (:mod:`panet.data.synthetic`, made from ``seed``)
            drawn from like the photos, after them in the index.

    >>> import tempfile, numpy as np
    >>> from panet.io import save_image
    >>> folder = tempfile.mkdtemp(); save_image(folder + "/a.png", np.random.rand(60, 70, 3))
    >>> degraded, target = RestorationDataset(folder, SuperResolution(2), patch_size=16)[0]
    >>> tuple(degraded.shape), tuple(target.shape)
    ((3, 16, 16), (3, 32, 32))
    """

    def __init__(self, images, task, *, patch_size: int | None = 48, channels: int = 3,
                 train: bool = True, repeat: int = 1, seed: int = 0,
                 cache: bool = True, synthetic: int = 0) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if train and not patch_size:
            raise ValueError("training needs a patch_size")
        self.paths = find_images(images)
        self.task = task
        self.patch_size = patch_size
        self.channels = channels
        self.train = train
        self.repeat = max(1, int(repeat)) if train else 1
        self.seed = seed
        self.epoch = 0
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        names, self._synthetic_levels = synthetic_training_levels(synthetic, seed, channels)
        self.names = self.paths + names

    def __len__(self) -> int:
        return len(self.names) * self.repeat

    def set_epoch(self, epoch: int) -> None:
        """Draw new crops and noise for another epoch (call it before each epoch)."""
        self.epoch = int(epoch)

    def _image(self, index: int) -> np.ndarray:
        if index >= len(self.paths):
            return self._synthetic_levels[index - len(self.paths)].astype(np.float32) / 255.0
        levels = self._cache.get(index) if self._cache is not None else None
        if levels is None:
            levels = training_levels(self.paths[index], self.channels)
            if self._cache is not None:  # uint8 in memory: 4x smaller than float32
                self._cache[index] = levels
        return levels.astype(np.float32) / 255.0

    def __getitem__(self, item: int):
        index = item % len(self.names)
        rng = np.random.default_rng([self.seed, self.epoch if self.train else 0, item])
        image = self._image(index)
        scale = int(getattr(self.task, "scale", 1))
        if self.patch_size:
            size = self.patch_size * scale
            height, width = image.shape[:2]
            if height < size or width < size:
                raise ValueError(f"{self.names[index]} ({width}x{height}) is smaller than the "
                                 f"{size}x{size} crop")
            if self.train:
                top = int(rng.integers(0, (height - size) // scale + 1)) * scale
                left = int(rng.integers(0, (width - size) // scale + 1)) * scale
            else:
                top = (height - size) // 2 // scale * scale
                left = (width - size) // 2 // scale * scale
            image = image[top:top + size, left:left + size]
        elif scale > 1:  # whole image: cut to a multiple of the scale (the usual "modcrop")
            height, width = image.shape[:2]
            image = image[:height - height % scale, :width - width % scale]
        if self.train:
            image = dihedral(image, int(rng.integers(8)))
        degraded, target = self.task(np.ascontiguousarray(image), rng)
        return (torch.from_numpy(np.ascontiguousarray(degraded.transpose(2, 0, 1))),
                torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1))))
