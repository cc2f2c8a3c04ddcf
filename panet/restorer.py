"""Restoring images: the model choice and the per-image pipeline that ``panet restore``,
``panet serve``, the distributed runner and :func:`panet.restore` all share.

* :class:`RestoreOptions` - the task (a :class:`~panet.tasks.Task`), what the user said
  about the input's level, tiling, memory, precision, device;
* :func:`choose_models` - the model for each image's channel count (a :class:`ModelPool`),
  checked against the task and level, with any warning to show;
* :func:`restore_image` - one decoded image (pixels and alpha) through the pool, with the
  memory budget's tile, the task's consistency projection and the level read from it;
* :func:`restore` - the same for a numpy array, a PIL image or a tensor, returned as the
  same kind.

>>> import numpy as np, panet
>>> noisy = np.full((24, 24, 3), 128, np.uint8)
>>> out = panet.restore(noisy, "denoise", 25)
>>> out.shape, out.dtype
((24, 24, 3), dtype('uint8'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from panet.inference import (input_channels, model_scale, model_tiling, restore_pixels,
                             tile_for_memory)
from panet.models.card import model_card
from panet.pretrained import resolve_model, shipped_scales
from panet.tasks import Task, get_task

__all__ = ["RestoreOptions", "ModelPool", "choose_models", "restore_image", "restore",
           "as_task"]

Level = float | int | str


def as_task(task: str | Task) -> Task:
    """A :class:`~panet.tasks.Task` from itself or its name (``ValueError`` otherwise)."""
    if isinstance(task, Task):
        return task
    if not isinstance(task, str):
        raise TypeError(f"task must be a task name or a Task, not {type(task).__name__}")
    return get_task(task)


@dataclass
class RestoreOptions:
    """How to restore: the task and what the user said about the input's level, tiling,
    memory, precision, device.

    ``level`` is the noise sigma, JPEG quality, Bayer pattern or SR factor the user gave
    (parsed by the task); ``None`` reads it from the image where it can be (the shipped
    denoisers and JPEG models are blind: the level they read is only reported).
    """

    task: Task = field(default_factory=lambda: get_task("denoise"))
    level: Level | None = None
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

    def __post_init__(self) -> None:
        self.task = as_task(self.task)
        if self.level is not None:
            try:
                self.level = self.task.parse_level(str(self.level).strip())
            except ValueError as error:
                reason = str(error)
                if "invalid literal" in reason or "could not convert" in reason:
                    reason = f"{str(self.level).strip()!r} is not a number"
                raise ValueError(f"{self.task.level_option}: {reason}") from None
        if self.protocol not in ("default", "paper"):
            raise ValueError(f"protocol must be 'default' or 'paper', got {self.protocol!r}")
        if self.tile is not None and self.tile < 16:
            raise ValueError(f"tile must be at least 16 pixels, got {self.tile}")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"overlap must be non-negative, got {self.overlap}")
        if self.tile is not None and self.overlap is not None and self.tile <= self.overlap:
            raise ValueError(f"tile ({self.tile}) must be larger than the overlap "
                             f"({self.overlap})")


class ModelPool:
    """The model for each image's channel count: a given model serves every image; the
    shipped weights of a task are loaded per channel count (gray images get the gray model
    where one exists) on first use."""

    def __init__(self, model: nn.Module, task: Task, scale: int | None, fixed: bool,
                 device: torch.device | str = "cpu") -> None:
        self.task, self.scale, self.fixed, self.device = task, scale, fixed, device
        self.default = model.to(device)
        self._by_channels = {input_channels(self.default): self.default}

    def __call__(self, channels: int) -> nn.Module:
        if self.fixed:
            return self.default
        if channels not in self._by_channels:
            model, _ = resolve_model(None, self.task.family, self.scale, channels)
            self._by_channels[channels] = model.to(self.device)
        return self._by_channels[channels]


def _outside_training(model: nn.Module, task: Task, level: Level | None) -> str | None:
    """A warning when a numeric level lies outside the range on the model's card."""
    trained = model_card(model).levels
    # a [low, high] range or the set of levels it was trained on
    if not isinstance(level, (int, float)) or not isinstance(trained, (list, tuple)) \
            or not trained or not all(isinstance(v, (int, float)) for v in trained):
        return None
    low, high = min(trained), max(trained)
    if low <= level <= high:
        return None
    return (f"the model was trained for {task.level_option} {low:g}-{high:g}; "
            f"{task.level_option} {level:g} is outside that range")


def choose_models(options: RestoreOptions, model: str | nn.Module | None = None
                  ) -> tuple[ModelPool, list[str]]:
    """The models ``panet restore`` would use for ``options`` and ``model`` (a shipped
    name, a registered architecture, a weights file, a network, or ``None`` for the task's
    shipped models), and the warnings to show. ``ValueError`` when they cannot fit."""
    task, warnings = options.task, []
    scale = task.upscale(options.level)
    if isinstance(model, nn.Module):
        network, random_weights = model.eval(), False
    else:
        if model is None and task.upscales and scale is not None:
            scales = shipped_scales(task.family)
            if scale not in scales:
                listed = ", ".join(f"x{s}" for s in scales) or "none"
                raise ValueError(f"{task.level_option} {scale}: the shipped models are "
                                 f"{listed}; name another model for another factor")
        network, random_weights = resolve_model(model, task.family, scale)
    factor = model_scale(network)
    if task.upscales and scale and scale != factor:
        raise ValueError(f"the model upscales x{factor}, not x{scale}")
    if task.upscales != (factor > 1):
        raise ValueError(f"a x{factor} model does not fit task {task.family}")
    if random_weights:
        warnings.append("no trained weights for this model yet; it has RANDOM weights and "
                        "will not restore anything (name trained weights instead)")
    outside = _outside_training(network, task, options.level)
    if outside:
        warnings.append(outside)
    pool = ModelPool(network, task, scale, fixed=model is not None, device=options.device)
    return pool, warnings


def restore_image(pixels: np.ndarray, alpha: np.ndarray | None, models: Callable[[int], nn.Module],
                  options: RestoreOptions, *, path: str | None = None,
                  image_format: str | None = None,
                  on_plan: Callable[[int], Callable[[], None] | None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """``(restored pixels, alpha at their size, notes)`` for one float ``H x W x C`` image in
    [0, 1] (and its ``H x W x 1`` alpha, or ``None``). ``path`` and ``image_format`` say
    where it was read from: a JPEG file's quantisation is kept, a JPEG's quality read."""
    height, width, channels = pixels.shape
    net = models(channels)
    task = options.task.for_channels(channels)
    tile = options.tile or tile_for_memory(net, height, width, channels,
                                           int(options.max_memory_bytes))
    consistent = options.consistency and options.protocol != "paper"
    grid = task.file_jpeg_grid(path) if consistent and path else None
    tiling = model_tiling(net, task, tile, options.overlap, options.ensemble, options.protocol)
    restored, note = restore_pixels(
        net, pixels, task=task, pattern=task.bayer_pattern(options.level), tiling=tiling,
        dtype=options.dtype, device=torch.device(options.device), on_plan=on_plan,
        jpeg_grid=grid, consistent=consistent)
    notes = [note] if note else []
    scale = restored.shape[0] // height
    if alpha is not None and scale > 1:
        from panet.degradations import imresize

        alpha = np.clip(imresize(alpha, scale), 0, 1)
    if options.level is None:   # nothing said about the level: what can be read from it
        read = task.read_level(pixels, path or "", image_format)
        if read:
            notes.append(read)
    name = model_card(net).shipped_name
    if name:
        notes.insert(0, f"shipped model {name}")
    return restored, alpha, notes


# ---- arrays, PIL images and tensors ----------------------------------------------------------

def _from_array(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``(pixels, alpha, bit depth)`` of an ``H x W`` or ``H x W x C`` array."""
    from panet.io import from_integers, split_alpha

    if array.dtype == np.uint8 or array.dtype == np.uint16:
        depth = 8 if array.dtype == np.uint8 else 16
    elif array.dtype in (np.float16, np.float32, np.float64):
        depth = 32
    else:
        raise TypeError(f"images are uint8, uint16 or float arrays, not {array.dtype}")
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"an image is an H x W or H x W x C array with pixels, not shape "
                         f"{array.shape}")
    if depth == 32 and not np.isfinite(array).all():
        raise ValueError("the image holds NaN or infinite values")
    if array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{array.shape[2]} channels: an image has 1 or 3 (2 or 4 with alpha)")
    pixels, alpha = split_alpha(array)
    if depth == 32:
        return pixels.astype(np.float32), None if alpha is None else alpha.astype(np.float32), 32
    return from_integers(pixels, depth), None if alpha is None else from_integers(alpha, depth), \
        depth


def _to_array(pixels: np.ndarray, alpha: np.ndarray | None, depth: int, like: np.ndarray
              ) -> np.ndarray:
    from panet.io import to_integers

    out = pixels if alpha is None else np.concatenate([pixels, alpha], axis=2)
    out = out.astype(like.dtype) if depth == 32 else to_integers(out, depth)
    return out[..., 0] if like.ndim == 2 else out


def _run(array: np.ndarray, options: RestoreOptions, models) -> np.ndarray:
    pixels, alpha, depth = _from_array(array)
    restored, alpha, _ = restore_image(pixels, alpha, models, options)
    return _to_array(restored, alpha, depth, array)


def restore(image: Any, task: str | Task = "denoise", level: Level | None = None,
            model: str | nn.Module | None = None, *, tile: int | None = None,
            overlap: int | None = None, max_memory_gib: float = 4.0, ensemble: bool = False,
            protocol: str = "default", precision: str = "fp32", device: str = "cpu",
            consistency: bool = True) -> Any:
    """Restore one image as ``panet restore`` restores a file: the same model choice,
    tiling, memory budget and consistency projection, so the same pixels.

    Args:
        image: a numpy array (uint8, uint16 or float in [0, 1]; ``H x W`` or ``H x W x C``
            with 1 or 3 channels, 2 or 4 with alpha, which is kept), a PIL image, or a
            tensor (float in [0, 1] or uint8; ``H x W``, ``C x H x W`` or ``B x C x H x W``).
        task: ``denoise``, ``demosaic``, ``jpeg`` or ``sr`` (or any task name).
        level: the noise sigma, JPEG quality, Bayer pattern or SR factor (optional except
            to choose an SR factor or a mosaic's pattern: the shipped models are blind).
        model: a shipped name, a registered architecture, a weights file or a network;
            ``None`` takes the task's shipped model for the image's channels.
        tile: tile side in pixels (``None``: the model's own, then shrunk to fit the
            memory budget).
        overlap: pixels shared by neighbouring tiles (``None``: the model's own).
        max_memory_gib: memory budget of one restore, in GiB.
        ensemble: average the eight flips and rotations (paper's self-ensemble; 8x time).
        protocol: ``"default"`` (tiles) or ``"paper"`` (the authors' four-quarter chop).
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"`` (bfloat16 where this
            machine runs it faster).
        device: a torch device name (``"cpu"``, ``"cuda"``, ...).
        consistency: keep what the input says about the original (the JPEG's quantisation,
            the mosaic's samples, the SR input), as ``panet restore`` does by default.

    Returns:
        the restored image, of the same kind, dtype and layout as ``image`` (SR: larger).
    """
    from panet.hardware import autocast_dtype

    options = RestoreOptions(task=as_task(task), level=level, tile=tile, overlap=overlap,
                             max_memory_bytes=int(max_memory_gib * 2**30), ensemble=ensemble,
                             protocol=protocol, dtype=autocast_dtype(precision, device),
                             device=device, consistency=consistency)
    models, _ = choose_models(options, model)
    if isinstance(image, np.ndarray):
        return _run(image, options, models)
    if isinstance(image, torch.Tensor):
        return _restore_tensor(image, options, models)
    try:
        from PIL import Image
    except ImportError:   # pragma: no cover - Pillow is a base dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _restore_pil(image, options, models)
    raise TypeError(f"restore takes a numpy array, a PIL image or a tensor, not "
                    f"{type(image).__name__}")


def _restore_pil(image, options: RestoreOptions, models):
    from PIL import Image

    converted = {"P": "RGBA" if "transparency" in image.info else "RGB", "1": "L",
                 "CMYK": "RGB"}.get(image.mode)
    if converted:
        image = image.convert(converted)
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "F"):
        raise ValueError(f"PIL images of mode {image.mode} are not supported")
    array = np.asarray(image)
    out = _run(array, options, models)
    return Image.fromarray(out)   # the mode follows from the array, as it came


def _restore_tensor(tensor: torch.Tensor, options: RestoreOptions, models) -> torch.Tensor:
    if tensor.dtype not in (torch.uint8, torch.float16, torch.bfloat16, torch.float32,
                            torch.float64):
        raise TypeError(f"image tensors are float in [0, 1] or uint8, not {tensor.dtype}")
    if tensor.ndim not in (2, 3, 4) or tensor.numel() == 0:
        raise ValueError(f"an image tensor is H x W, C x H x W or B x C x H x W with pixels, "
                         f"not shape {tuple(tensor.shape)}")
    batch = tensor.reshape(-1, 1 if tensor.ndim == 2 else tensor.shape[-3], *tensor.shape[-2:])
    if batch.shape[1] not in (1, 3):
        raise ValueError(f"{batch.shape[1]} channels: an image tensor has 1 or 3")
    source = batch.detach().cpu()
    if source.dtype == torch.bfloat16 or source.dtype == torch.float16:
        source = source.float()
    outputs = []
    for one in source:
        array = one.permute(1, 2, 0).numpy()
        outputs.append(torch.from_numpy(np.ascontiguousarray(_run(array, options, models))))
    out = torch.stack(outputs).permute(0, 3, 1, 2).to(tensor.dtype).to(tensor.device)
    return out.reshape(*tensor.shape[:-2], *out.shape[-2:])
