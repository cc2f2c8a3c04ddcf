"""Training batches made on the training device itself (``data.pipeline: device``).

On a GPU the model's step takes milliseconds, and a host with a few CPU cores cannot crop,
degrade and upload batches that fast. Here the training photos are uploaded once as uint8
and every batch is made with tensor operations where the model runs:

* random crops: one gather from a flat buffer holding all images;
* the paper's 8 flips/rotations, drawn per sample;
* the task's degradation: Gaussian noise (8-bit clipped), Bayer sampling and Matlab-style
  bicubic downscaling as tensor ops (the same functions as ``panet degrade``); JPEG is
  encoded once per image and quality on the CPU at start-up (Pillow, threads), and crops
  are taken on the JPEG block grid so each one looks like a crop encoded on its own.

The statistics are those of :class:`~panet.data.datasets.RestorationDataset` (same images,
uniform image and crop choice, same degradations); the random draws differ. All draws come
from one CPU generator whose state is saved with the training checkpoints.

>>> import tempfile, numpy as np
>>> from panet.io import save_image
>>> from panet.data.datasets import Denoise
>>> folder = tempfile.mkdtemp(); save_image(folder + "/a.png", np.random.rand(40, 50, 3))
>>> batches = DeviceBatches(folder, Denoise((0, 50)), patch_size=16, batch_size=4)
>>> degraded, target = batches.next()
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
                                 find_images, training_levels)
from panet.degradations import add_gaussian_noise, imresize, mosaic
from panet.degradations._arrays import to_levels
from panet.degradations.jpeg import jpeg_bytes
from panet.metrics import rgb_to_y

__all__ = ["DeviceBatches", "level_values", "dihedral_batch"]

#: JPEG crops start on this grid: the 16-px MCU of 4:2:0 colour (a multiple of Y's 8).
JPEG_GRID = 16


def level_values(level) -> tuple[float, float] | list[float]:
    """A task level as ``(low, high)`` for a uniform draw, or a list to choose from."""
    if isinstance(level, (int, float)):
        return [float(level)]
    if isinstance(level, tuple) and len(level) == 2:
        return (float(level[0]), float(level[1]))
    return [float(v) for v in level]


def _draw_levels(level, count: int, generator: torch.Generator) -> torch.Tensor:
    values = level_values(level)
    if isinstance(values, tuple):
        low, high = values
        return low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)
    choice = torch.randint(len(values), (count,), generator=generator)
    return torch.tensor(values, dtype=torch.float64)[choice]


def dihedral_batch(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-sample flips/rotations of square crops ``B x C x P x P`` with the bit meaning of
    :func:`~panet.data.datasets.dihedral` (4: transpose, 2: vertical flip, 1: horizontal).

    >>> x = torch.arange(4.).view(1, 1, 2, 2)
    >>> dihedral_batch(x, torch.tensor([5]))[0, 0].tolist()     # transpose, then h-flip
    [[2.0, 0.0], [3.0, 1.0]]
    """
    def pick(bit: int, changed: torch.Tensor) -> torch.Tensor:
        mask = ((index & bit) > 0).to(images.device).view(-1, 1, 1, 1)
        return torch.where(mask, changed, images)

    images = pick(4, images.transpose(-1, -2))
    images = pick(2, images.flip(-2))
    return pick(1, images.flip(-1))


def _jpeg_decoded(levels: np.ndarray, quality: int) -> np.ndarray:
    with PILImage.open(io.BytesIO(jpeg_bytes(levels, quality))) as decoded:
        out = np.asarray(decoded, dtype=np.uint8)
    return out.reshape(levels.shape)


class DeviceBatches:
    """Endless training batches ``(degraded, target)``, float32 ``B x C x H x W`` on ``device``.

    Args:
        images: a folder (searched recursively) or a list of image files.
        task: :class:`Denoise`, :class:`Demosaic`, :class:`JPEGArtifacts` or
            :class:`SuperResolution`, as for the CPU dataset.
        patch_size: input crop (SR targets are ``patch_size * scale``).
        channels: 3 colour or 1 gray, as for the CPU dataset.
        batch_size: samples per batch.
        device: where the images live and the batches are made.
        seed: seeds the generator (its state is :meth:`state_dict`).
        workers: threads that JPEG-encode the images at start-up.
    """

    def __init__(self, images: str | Sequence[str], task, *, patch_size: int = 48,
                 channels: int = 3, batch_size: int = 16,
                 device: torch.device | str = "cpu", seed: int = 0,
                 workers: int | None = None) -> None:
        if not isinstance(task, (Denoise, Demosaic, JPEGArtifacts, SuperResolution)):
            raise ValueError(f"the device pipeline has no rule for task {task!r}")
        self.task, self.patch_size, self.batch_size = task, int(patch_size), int(batch_size)
        self.device = torch.device(device)
        self.scale = int(task.scale)
        self.crop = self.patch_size * self.scale
        self.grid = JPEG_GRID if isinstance(task, JPEGArtifacts) else self.scale
        self.paths = find_images(images)
        pictures = [training_levels(path, channels) for path in self.paths]
        gray_y = isinstance(task, JPEGArtifacts) and task.gray_y
        if gray_y:   # the paper's CAR target: the rounded BT.601 Y of the 8-bit photo
            pictures = [np.round(rgb_to_y(p)).astype(np.uint8) if p.shape[2] == 3 else p
                        for p in pictures]
        for path, picture in zip(self.paths, pictures):
            if min(picture.shape[:2]) < self.crop:
                raise ValueError(f"{path} ({picture.shape[1]}x{picture.shape[0]}) is smaller "
                                 f"than the {self.crop}x{self.crop} crop")
        self.channels = pictures[0].shape[2]
        sizes = torch.tensor([p.shape[0] * p.shape[1] * self.channels for p in pictures])
        self.offsets = (torch.cumsum(sizes, 0) - sizes).to(self.device)
        self.heights = torch.tensor([p.shape[0] for p in pictures], device=self.device)
        self.widths = torch.tensor([p.shape[1] for p in pictures], device=self.device)
        self.clean = self._upload(pictures)
        self.qualities: list[int] = []
        self.degraded: torch.Tensor | None = None
        if isinstance(task, JPEGArtifacts):
            self._encode_jpeg(pictures, workers)
        self.generator = torch.Generator().manual_seed(int(seed))

    # ---- set-up ---------------------------------------------------------------------------

    def _upload(self, pictures: list[np.ndarray]) -> torch.Tensor:
        flat = np.concatenate([p.reshape(-1) for p in pictures])
        return torch.from_numpy(flat).to(self.device)

    def _encode_jpeg(self, pictures: list[np.ndarray], workers: int | None) -> None:
        values = level_values(self.task.quality)
        if isinstance(values, tuple):   # the CPU dataset rounds a uniform draw
            values = range(int(round(values[0])), int(round(values[1])) + 1)
        self.qualities = sorted({int(round(v)) for v in values})
        jobs = [(p, q) for q in self.qualities for p in pictures]
        with ThreadPoolExecutor(max_workers=workers or min(16, os.cpu_count() or 1)) as pool:
            decoded = list(pool.map(lambda job: _jpeg_decoded(*job), jobs))
        self.degraded = self._upload(decoded)

    # ---- batches --------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def _crop_indices(self) -> torch.Tensor:
        """Flat indices ``B x P x P x C`` of uniformly drawn images and grid-aligned crops."""
        count, crop, g = self.batch_size, self.crop, self.generator
        image = torch.randint(len(self.paths), (count,), generator=g).to(self.device)
        height, width = self.heights[image], self.widths[image]
        rows = torch.rand(count, generator=g, dtype=torch.float64).to(self.device)
        cols = torch.rand(count, generator=g, dtype=torch.float64).to(self.device)
        top = (rows * ((height - crop) // self.grid + 1)).long() * self.grid
        left = (cols * ((width - crop) // self.grid + 1)).long() * self.grid
        span = torch.arange(crop, device=self.device)
        y = (top[:, None] + span)[:, :, None, None]
        x = (left[:, None] + span)[:, None, :, None]
        c = torch.arange(self.channels, device=self.device)[None, None, None, :]
        return self.offsets[image].view(-1, 1, 1, 1) + \
            (y * width.view(-1, 1, 1, 1) + x) * self.channels + c

    @staticmethod
    def _as_images(levels: torch.Tensor) -> torch.Tensor:
        return levels.permute(0, 3, 1, 2).float() / 255.0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch ``(degraded, target)``."""
        task, g = self.task, self.generator
        index = self._crop_indices()
        flips = torch.randint(8, (self.batch_size,), generator=g)
        target = dihedral_batch(self._as_images(self.clean[index]), flips)
        if isinstance(task, JPEGArtifacts):
            quality = _draw_levels(task.quality, self.batch_size, g).round().long()
            which = torch.searchsorted(torch.tensor(self.qualities), quality).to(self.device)
            shifted = index + (which * self.clean.numel()).view(-1, 1, 1, 1)
            return dihedral_batch(self._as_images(self.degraded[shifted]), flips), target
        if isinstance(task, Denoise):
            sigma = _draw_levels(task.sigma, self.batch_size, g).float().to(self.device)
            seed = int(torch.randint(2 ** 62, (1,), generator=g))
            return add_gaussian_noise(target, sigma, seed=seed, clip=task.clip), target
        if isinstance(task, Demosaic):
            return mosaic(target, task.pattern), target
        return to_levels(imresize(target, 1.0 / self.scale)), target

    def __iter__(self):
        while True:
            yield self.next()
