"""Training batches made on the training device itself (``data.pipeline: device``).

On a GPU the model's step takes milliseconds, and a host with a few CPU cores cannot crop,
degrade and upload batches that fast. Here the training photos are uploaded once as uint8
and every batch is made with tensor operations where the model runs:

* random crops: one gather from a flat buffer holding all images;
* the paper's 8 flips/rotations, drawn per sample;
* the task's degradation: Gaussian noise (8-bit clipped), Bayer sampling and Matlab-style
  bicubic downscaling as tensor ops (the same functions as ``panet degrade``); JPEG is
  encoded once per photo, quality and orientation (as is and transposed) on the CPU at
  start-up (Pillow, threads), and crops are taken on the JPEG block grid, so each one has
  the blocks that coding the crop alone would give.

The statistics are those of :class:`~panet.data.datasets.RestorationDataset` (same images,
uniform image and crop choice, same degradations); the random draws differ. Batch ``k``
depends only on ``(seed, k)``: all its random numbers are drawn on the device from a
generator seeded with them, so a resumed run continues exactly, on every rank, and the
host never waits for the device.

>>> import tempfile, numpy as np
>>> from panet.io import save_image
>>> from panet.data.datasets import Denoise
>>> folder = tempfile.mkdtemp(); save_image(folder + "/a.png", np.random.rand(40, 50, 3))
>>> batches = DeviceBatches(folder, Denoise((0, 50)), patch_size=16, batch_size=4)
>>> degraded, target = batches.batch(0)
>>> tuple(degraded.shape), tuple(target.shape)
((4, 3, 16, 16), (4, 3, 16, 16))
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image as PILImage

from panet.data.datasets import (Demosaic, Denoise, JPEGArtifacts, SuperResolution,
                                 find_images, synthetic_training_levels, training_levels)
from panet.degradations import add_gaussian_noise, imresize, mosaic
from panet.degradations._arrays import to_levels
from panet.degradations.jpeg import jpeg_bytes
from panet.metrics import rgb_to_y

__all__ = ["DeviceBatches", "level_values", "dihedral_batch"]


def jpeg_grid(channels: int) -> int:
    """The JPEG block grid crops start on: 16-px MCUs for 4:2:0 colour, 8-px blocks for gray."""
    return 16 if channels == 3 else 8


def level_values(level) -> tuple[float, float] | list[float]:
    """A task level as ``(low, high)`` for a uniform draw, or a list to choose from."""
    if isinstance(level, (int, float)):
        return [float(level)]
    if isinstance(level, tuple) and len(level) == 2:
        return (float(level[0]), float(level[1]))
    return [float(v) for v in level]


def _draw_levels(level, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` levels (float64, on the generator's device): uniform over a range, or
    chosen from a list."""
    values, device = level_values(level), generator.device
    if isinstance(values, tuple):
        low, high = values
        return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64,
                                               device=device)
    choice = torch.randint(len(values), (count,), generator=generator, device=device)
    return torch.tensor(values, dtype=torch.float64, device=device)[choice]


def _seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (the same on every machine and Python)."""
    mixed = 0x9E3779B97F4A7C15
    for part in parts:
        mixed = (mixed ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9
        mixed = (mixed ^ (mixed >> 31)) & 0xFFFFFFFFFFFFFFFF
    return mixed >> 1


def dihedral_batch(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample flips/rotations of square crops ``B x C x P x P`` with the bit meaning of
    :func:`~panet.data.datasets.dihedral` (4: transpose, 2: vertical flip, 1: horizontal).

    >>> x = torch.arange(4.).view(1, 1, 2, 2)
    >>> dihedral_batch(x, torch.tensor([5]))[0, 0].tolist()     # transpose, then h-flip
    [[2.0, 0.0], [3.0, 1.0]]
    """
    index = index.to(images.device)

    def pick(bit: int, changed: torch.Tensor) -> torch.Tensor:
        return torch.where(((index & bit) > 0).view(-1, 1, 1, 1), changed, images)

    images = pick(4, images.transpose(-1, -2))
    images = pick(2, images.flip(-2))
    return pick(1, images.flip(-1))


def _jpeg_decoded(levels: np.ndarray, quality: int) -> np.ndarray:
    with PILImage.open(io.BytesIO(jpeg_bytes(levels, quality))) as decoded:
        out = np.asarray(decoded, dtype=np.uint8)
    return out.reshape(levels.shape)


class DeviceBatches:
    """Training batches ``(degraded, target)``, float32 ``B x C x H x W`` on ``device``.

    Args:
        images: a folder (searched recursively) or a list of image files.
        task: :class:`Denoise`, :class:`Demosaic`, :class:`JPEGArtifacts` or
            :class:`SuperResolution`, as for the CPU dataset.
        patch_size: input crop (SR targets are ``patch_size * scale``; for JPEG a multiple
            of the block grid, so that flips keep the blocks on the crop's grid).
        channels: 3 colour or 1 gray, as for the CPU dataset.
        batch_size: samples per batch (of this process).
        device: where the images live and the batches are made.
        seed: with the batch number, decides every random draw.
        rank, world: a process's rank and the number of processes under torchrun: each
            draws the global batch of ``batch_size * world`` samples and keeps its slice, so
            that the ranks together see the batches of one process, whatever their number.
        workers: threads that JPEG-encode the images at start-up.
        synthetic: dead-leaves pictures added to the photos, the same as the CPU dataset's
            for the same ``seed`` (:mod:`panet.data.synthetic`).
    """

    def __init__(self, images: str | Sequence[str], task, *, patch_size: int = 48,
                 channels: int = 3, batch_size: int = 16,
                 device: torch.device | str = "cpu", seed: int = 0, rank: int = 0,
                 world: int = 1, workers: int | None = None, synthetic: int = 0) -> None:
        if not isinstance(task, (Denoise, Demosaic, JPEGArtifacts, SuperResolution)):
            raise ValueError(f"the device pipeline has no rule for task {task!r}")
        self.task, self.patch_size, self.batch_size = task, int(patch_size), int(batch_size)
        self.device = torch.device(device)
        self.seed, self.rank, self.world = int(seed), int(rank), int(world)
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {rank} is outside a world of {world}")
        self.scale = int(task.scale)
        self.crop = self.patch_size * self.scale
        self.paths = find_images(images)
        names, drawn = synthetic_training_levels(synthetic, self.seed, channels)
        pictures = [training_levels(path, channels) for path in self.paths] + drawn
        names = self.paths + names
        jpeg = isinstance(task, JPEGArtifacts)
        if jpeg and task.gray_y:   # the paper's CAR target: the rounded BT.601 Y of the photo
            pictures = [np.round(rgb_to_y(p)).astype(np.uint8) if p.shape[2] == 3 else p
                        for p in pictures]
        for name, picture in zip(names, pictures):
            if min(picture.shape[:2]) < self.crop:
                raise ValueError(f"{name} ({picture.shape[1]}x{picture.shape[0]}) is smaller "
                                 f"than the {self.crop}x{self.crop} crop")
        self.channels = pictures[0].shape[2]
        self.grid = jpeg_grid(self.channels) if jpeg else self.scale
        if jpeg and self.patch_size % self.grid:
            raise ValueError(f"JPEG training crops must be a multiple of {self.grid} px (the "
                             f"block grid), got {self.patch_size}")
        self.count = len(pictures)
        if jpeg:   # JPEG is not symmetric under transposition: code both orientations
            pictures = pictures + [np.ascontiguousarray(p.transpose(1, 0, 2)) for p in pictures]
        sizes = torch.tensor([p.shape[0] * p.shape[1] * self.channels for p in pictures])
        self.offsets = (torch.cumsum(sizes, 0) - sizes).to(self.device)
        self.heights = torch.tensor([p.shape[0] for p in pictures], device=self.device)
        self.widths = torch.tensor([p.shape[1] for p in pictures], device=self.device)
        self.clean = self._upload(pictures)
        self.qualities: list[int] = []
        self.degraded: torch.Tensor | None = None
        if jpeg:
            self._encode_jpeg(pictures, workers)
        elif isinstance(task, Denoise):
            values = level_values(task.sigma)
            if min(values) < 0:
                raise ValueError(f"noise level must be non-negative, got {task.sigma}")

    # ---- set-up ---------------------------------------------------------------------------

    def _upload(self, pictures: list[np.ndarray]) -> torch.Tensor:
        flat = np.concatenate([p.reshape(-1) for p in pictures])
        return torch.from_numpy(flat).to(self.device)

    def _encode_jpeg(self, pictures: list[np.ndarray], workers: int | None) -> None:
        values = level_values(self.task.quality)
        if isinstance(values, tuple):   # the CPU dataset rounds a uniform draw
            values = range(int(round(values[0])), int(round(values[1])) + 1)
        self.qualities = sorted({int(round(v)) for v in values})
        if not 1 <= self.qualities[0] <= self.qualities[-1] <= 100:
            raise ValueError(f"JPEG quality must be from 1 to 100, got {self.task.quality}")
        self._quality_table = torch.tensor(self.qualities, device=self.device)
        jobs = [(p, q) for q in self.qualities for p in pictures]
        with ThreadPoolExecutor(max_workers=workers or min(16, os.cpu_count() or 1)) as pool:
            decoded = list(pool.map(lambda job: _jpeg_decoded(*job), jobs))
        self.degraded = self._upload(decoded)

    # ---- batches --------------------------------------------------------------------------

    def _crop_indices(self, generator: torch.Generator,
                      transposed: torch.Tensor) -> torch.Tensor:
        """Flat indices ``B x P x P x C`` of uniformly drawn photos and grid-aligned crops
        (from the transposed copies where ``transposed``, for JPEG)."""
        count, crop, device = len(transposed), self.crop, self.device
        image = torch.randint(self.count, (count,), generator=generator, device=device)
        image = image + transposed.long() * (len(self.heights) - self.count)
        height, width = self.heights[image], self.widths[image]
        rows = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
        cols = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
        top = (rows * torch.div(height - crop, self.grid, rounding_mode="floor").add(1)).long()
        left = (cols * torch.div(width - crop, self.grid, rounding_mode="floor").add(1)).long()
        span = torch.arange(crop, device=device)
        y = (top[:, None] * self.grid + span)[:, :, None, None]
        x = (left[:, None] * self.grid + span)[:, None, :, None]
        c = torch.arange(self.channels, device=device)[None, None, None, :]
        return self.offsets[image].view(-1, 1, 1, 1) + \
            (y * width.view(-1, 1, 1, 1) + x) * self.channels + c

    @staticmethod
    def _as_images(levels: torch.Tensor) -> torch.Tensor:
        return levels.permute(0, 3, 1, 2).float() / 255.0

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``step``: ``(degraded, target)``, the same for the same seed, rank,
        world and step; this rank's slice of the global batch ``step``."""
        share = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        degraded, target = self._global_batch(step, self.batch_size * self.world)
        return degraded[share], target[share]

    def _global_batch(self, step: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Drawn whole on every rank (a few crops: cheap beside the network), so that the
        # draws do not depend on the number of processes.
        task = self.task
        generator = torch.Generator(self.device).manual_seed(_seed(self.seed, 0, step))
        flips = torch.randint(8, (count,), generator=generator, device=self.device)
        if isinstance(task, JPEGArtifacts):
            # the transposed copies were coded transposed; only the flips come after coding
            index = self._crop_indices(generator, (flips & 4) > 0)
            quality = _draw_levels(task.quality, count, generator).round().long()
            which = torch.searchsorted(self._quality_table, quality)
            shifted = index + (which * self.clean.numel()).view(-1, 1, 1, 1)
            return (dihedral_batch(self._as_images(self.degraded[shifted]), flips & 3),
                    dihedral_batch(self._as_images(self.clean[index]), flips & 3))
        index = self._crop_indices(generator, torch.zeros_like(flips, dtype=torch.bool))
        target = dihedral_batch(self._as_images(self.clean[index]), flips)
        if isinstance(task, Denoise):
            sigma = _draw_levels(task.sigma, count, generator).float()
            noise_seed = _seed(self.seed, 0, step, 1)
            return add_gaussian_noise(target, sigma, seed=noise_seed, clip=task.clip), target
        if isinstance(task, Demosaic):
            return mosaic(target, task.pattern), target
        return to_levels(imresize(target, 1.0 / self.scale)), target

    def batches(self, start: int = 0):
        """Batches ``start``, ``start + 1``, ... without end."""
        step = start
        while True:
            yield self.batch(step)
            step += 1
