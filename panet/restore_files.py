"""Restore image files: input expansion, output naming, and one file end to end.

The ``panet restore`` command, a web app or a distributed runner all call these; none of
them decides tiling, alpha, bit depth or naming on its own.

>>> from panet.restore_files import output_target
>>> output_target("photos/a.png", "a.png", output=None)
'photos/a_panet.png'
>>> output_target("photos/a.png", "sub/a.png", output="out")
'out/sub/a.png'
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from panet.io import FORMATS, ImageError, load_image, save_image
from panet.models.card import model_card
from panet.tasks import for_images
from panet.restore import (restore_pixels, resolve_model,
                           tile_for_memory, input_channels)

__all__ = ["RestoreOptions", "ModelPool", "expand_inputs", "output_target", "restore_file",
           "OUTPUT_SUFFIX"]

#: Added to the file name when outputs are written beside their inputs.
OUTPUT_SUFFIX = "_panet"


@dataclass
class RestoreOptions:
    """How to restore: task and its side information, tiling, precision, device.

    ``sigma`` and ``quality`` are what the user said about the input (the shipped models
    are blind); when they are missing, the noise level or the JPEG quality is read from
    the image and reported.
    """

    task: str = "denoise"
    pattern: str = "RGGB"
    sigma: float | None = None
    quality: int | None = None
    tile: int | None = None
    overlap: int | None = None
    max_memory_bytes: int = 4 * 2**30
    ensemble: bool = False
    protocol: str = "default"
    dtype: torch.dtype | None = None
    device: torch.device | str = "cpu"
    # keep what the input says about the original (restore_pixels's ``consistent``) and, for
    # JPEG files, their quantisation intervals
    consistency: bool = True


class ModelPool:
    """The model for each image's channel count: a given model serves every image; the
    shipped weights of a task are loaded per channel count (gray images get the gray model
    where one exists) on first use."""

    def __init__(self, model: nn.Module, task: str, scale: int | None, fixed: bool,
                 device: torch.device | str = "cpu") -> None:
        self.task, self.scale, self.fixed, self.device = task, scale, fixed, device
        self.default = model.to(device)
        self._by_channels = {input_channels(self.default): self.default}

    def __call__(self, channels: int) -> nn.Module:
        if self.fixed:
            return self.default
        if channels not in self._by_channels:
            model, _ = resolve_model(None, self.task, self.scale, channels)
            self._by_channels[channels] = model.to(self.device)
        return self._by_channels[channels]


def expand_inputs(items: list[str], recursive: bool = False) -> list[tuple[str, str]]:
    """(file, path relative to its input root) for files, folders and glob patterns.

    Raises:
        FileNotFoundError: a pattern that matches nothing.
    """
    found: list[tuple[str, str]] = []
    for item in items:
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        if not matches:
            raise FileNotFoundError(f"{item}: no file matches")
        for match in matches:
            if os.path.isdir(match):
                walker = os.walk(match) if recursive else [(match, [], sorted(os.listdir(match)))]
                for folder, _, files in walker:
                    for name in sorted(files):
                        path = os.path.join(folder, name)
                        if os.path.splitext(name)[1].lower() in FORMATS and os.path.isfile(path) \
                                and not name.startswith("."):
                            found.append((path, os.path.relpath(path, match)))
            else:
                found.append((match, os.path.basename(match)))
    return found


def output_target(path: str, relative: str, output: str | None,
                  output_is_file: bool = False) -> str:
    """Where the restored ``path`` goes: ``output`` itself (one input, a file name), the
    same relative path under the ``output`` folder, or beside the input with
    :data:`OUTPUT_SUFFIX`."""
    if output_is_file:
        return output
    stem, ext = os.path.splitext(relative)
    if output:
        return os.path.join(output, stem + ext)
    return os.path.join(os.path.dirname(path), os.path.basename(stem + OUTPUT_SUFFIX + ext))


def restore_file(path: str, target: str, models: Callable[[int], nn.Module],
                 options: RestoreOptions,
                 on_plan: Callable[[int], Callable[[], None] | None] | None = None) -> str:
    """Restore the image at ``path`` into ``target`` (written atomically, keeping alpha,
    bit depth where the format allows, EXIF and ICC profile); returns a short note on what
    was found (shipped model used, estimated noise level, JPEG quality read).

    ``models(channels)`` gives the network for the image's channel count. ``on_plan``, if
    given, is told how many network calls the image will take and may return a callback
    called after each.
    """
    image = load_image(path)
    height, width, channels = image.pixels.shape
    net = models(channels)
    tile = options.tile or tile_for_memory(net, height, width, channels,
                                           int(options.max_memory_bytes))
    spec = for_images(options.task, channels)
    grid = spec.file_jpeg_grid(path) if options.consistency else None
    pixels, note = restore_pixels(
        net, image.pixels, task=options.task, pattern=options.pattern, tile=tile,
        overlap=options.overlap, ensemble=options.ensemble, protocol=options.protocol,
        dtype=options.dtype, device=torch.device(options.device), on_plan=on_plan,
        jpeg_grid=grid, consistent=options.consistency)
    notes = [note] if note else []
    alpha = image.alpha
    scale = pixels.shape[0] // height
    if alpha is not None and scale > 1:
        import numpy as np

        from panet.degradations import imresize

        alpha = np.clip(imresize(alpha, scale), 0, 1)
    if options.sigma is None and options.quality is None:   # nothing said about the level
        read = spec.read_level(image.pixels, path, image.format)
        if read:
            notes.append(read)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    except OSError as error:
        raise ImageError(f"{target}: cannot create its folder ({error.strerror})") from None
    depth = image.bit_depth
    if FORMATS[os.path.splitext(target)[1].lower()] in ("JPEG", "BMP", "WEBP"):
        depth = 8
    save_image(target, pixels, alpha=alpha, bit_depth=depth, exif=image.exif,
               icc_profile=image.icc_profile)
    name = model_card(net).shipped_name
    if name:
        notes.insert(0, f"shipped model {name}")
    return "; ".join(notes)
