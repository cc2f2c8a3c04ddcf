"""One image through a network: how big a tile, which tiling, and the run.

* :func:`tile_for_memory` - the tile that keeps a restoration within a memory budget;
* :func:`model_tiling` - the :mod:`panet.tiling` strategy (tiles, the authors' chop,
  self-ensemble) for a model and a task, with the model's own overlap;
* :func:`restore_pixels` - one float image through the network, with the task's own input
  handling and its consistency projection.

Which model to use is :func:`panet.pretrained.resolve_model`'s job; files and arrays in
and out are :mod:`panet.restorer`'s and :mod:`panet.restore_files`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from panet.degradations.jpeg_constraint import JPEGGrid, project_onto_jpeg
from panet.models.card import model_card
from panet.tasks import Task
from panet.tiling import PaperChop, Tiles, Tiling, make_tiling

__all__ = ["model_scale", "input_channels", "trained_pattern", "tile_for_budget",
           "image_buffer_bytes", "tile_for_memory", "preferred_tile", "default_overlap",
           "preferred_overlap", "model_tiling", "paper_chop_pieces", "restore_pixels",
           "PROCESS_BASE_BYTES", "JPEG_KEPT_NOTE", "CONSISTENT_NOTE"]


def model_scale(model: nn.Module) -> int:
    """Upscaling factor of a model (1 for same-size restoration), from its card."""
    return model_card(model).scale


def paper_chop_pieces(height: int, width: int, min_pixels: int, shave: int = 10) -> int:
    """How many network calls :func:`paper_chop_forward` makes on a ``height x width`` image.

    >>> paper_chop_pieces(256, 256, 6800)   # 256 -> 138 -> 79 pixels: 4 x 4 pieces
    16
    """
    return PaperChop(min_pixels, shave).calls(height, width)


def tile_for_budget(model: nn.Module, budget_bytes: int, largest: int = 128) -> int:
    """The largest square tile whose attention fits ``budget_bytes`` (capped at ``largest``,
    since time per pixel grows with the tile's area)."""
    from panet.attention import attention_blocks

    blocks = attention_blocks(model)
    if not blocks:
        return largest
    # blocks run one after another: the hungriest one counts (memory is linear in pixels)
    fixed = max(block.inference_bytes(0) for block in blocks)
    per_pixel = max(block.inference_bytes(1) - block.inference_bytes(0) for block in blocks)
    side = int(math.sqrt(max(1.0, (budget_bytes - fixed) / (per_pixel * 1.25))))
    return max(16, min(largest, side))


# What the Python process holds before any image: interpreter, torch, numpy, Pillow.
PROCESS_BASE_BYTES = 600 * 2**20


def image_buffer_bytes(height: int, width: int, channels: int, scale: int = 1) -> int:
    """Whole-image memory of one restoration besides the network: the decoded file (Pillow
    keeps 4 bytes a pixel, then an integer array), two float32 copies of the input (the
    decoded array, the batch tensor), the float32 output accumulator, its blend weights,
    two output-sized copies while it is clamped, and the integer levels written."""
    pixels_in, pixels_out = height * width, height * width * scale * scale
    return 4 * (2 * pixels_in + 2 * channels * pixels_in + (3 * channels + 1) * pixels_out
                + pixels_out)


def preferred_tile(model: nn.Module) -> int | None:
    """The tile a trained model was made for (``restore_tile`` in its weights' metadata:
    the shipped models use their training crop or, where validation photos scored it
    higher in less time, a smaller one; never a larger one, whose attention would search
    more than it learned to, at more time)."""
    return model_card(model).restore_tile


def default_overlap(tile: int) -> int:
    """Overlap of neighbouring tiles for a model that names none: a sixth of the tile, 8 to
    16 px.

    >>> default_overlap(48), default_overlap(128), default_overlap(32)
    (8, 16, 8)
    """
    return min(16, max(8, tile // 6))


def preferred_overlap(model: nn.Module, tile: int) -> int:
    """The overlap ``panet restore`` uses for ``model`` in tiles of ``tile`` px when none is
    given: the model's ``restore_overlap`` (chosen on validation photos for its
    ``restore_tile``) scaled to ``tile``, else :func:`default_overlap`.

    Overlapping tiles see each pixel with different contexts, and their blend averages
    those predictions, so more overlap scores higher (docs/restore.md) at more tiles' time.

    >>> from panet.models import create_model
    >>> preferred_overlap(create_model("panet-s", n_resblocks=1), 48)
    8
    """
    card = model_card(model)
    if card.restore_overlap is None:
        return default_overlap(tile)
    ratio = card.restore_overlap / (card.restore_tile or tile)
    return max(0, min(tile - 1, round(ratio * tile)))


def tile_for_memory(model: nn.Module, height: int, width: int, channels: int,
                    budget_bytes: int, largest: int = 128) -> int:
    """Tile size for one image so that the whole process stays within ``budget_bytes``:
    what the image itself needs (:func:`image_buffer_bytes`), the weights and the process
    are taken off first; the rest goes to attention (:func:`tile_for_budget`), up to the
    model's :func:`preferred_tile`."""
    largest = min(largest, preferred_tile(model) or largest)
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    left = budget_bytes - PROCESS_BASE_BYTES - parameters - \
        image_buffer_bytes(height, width, channels, model_scale(model))
    smallest = 16 * 16 * 4 * 64 * 16 * 9   # a 16-px tile of the attention, roughly
    if left < smallest:
        need = (budget_bytes - left + smallest) / 2**30
        raise ValueError(f"a {width}x{height} image needs about {need:.2f} GiB; raise "
                         "--max-memory")
    return tile_for_budget(model, left, largest)


#: What a restoration's note says when the output was kept to a JPEG's quantisation.
JPEG_KEPT_NOTE = "kept to the JPEG's quantisation"
#: ... and when it was moved onto the images that give the input back (SR, demosaicing).
CONSISTENT_NOTE = "consistent with the input"


def input_channels(model: nn.Module) -> int:
    """Channels of the images ``model`` takes, from its card."""
    return model_card(model).in_channels


def trained_pattern(model: nn.Module) -> str | None:
    """The Bayer pattern a demosaicing model was trained on, from its card."""
    return model_card(model).pattern


def model_tiling(model: nn.Module, task: Task, tile: int | None = None,
                 overlap: int | None = None, ensemble: bool = False,
                 protocol: str = "default") -> Tiling:
    """The tiling ``panet restore`` and ``panet eval`` run ``model`` with: ``tile`` px tiles
    (``None``: the whole image) overlapping by ``overlap`` (``None``: the model's own,
    :func:`preferred_overlap`), or the authors' chop at ``task``'s threshold (``protocol``
    ``"paper"``), optionally inside the self-ensemble.

    >>> from panet.models import create_model
    >>> from panet.tasks import get_task
    >>> model_tiling(create_model("pa-edsr-x2", n_resblocks=1), get_task("sr"), 48, 8)
    Tiles(tile=48, overlap=8, scale=2)
    """
    if overlap is None:
        overlap = preferred_overlap(model, tile) if tile else 0
    return make_tiling(protocol, tile, overlap, ensemble, task.paper_min_pixels,
                       model_scale(model))


def restore_pixels(model: nn.Module, pixels, *, task: Task, pattern: str = "RGGB",
                   tiling: Tiling | None = None, dtype: torch.dtype | None = None,
                   device: str | torch.device = "cpu",
                   on_plan: Callable[[int], Callable[[], None] | None] | None = None,
                   jpeg_grid: JPEGGrid | None = None, consistent: bool = False):
    """Restore one ``H x W x C`` float image in [0, 1]; returns ``(H*s) x (W*s) x C`` and a
    note about channel handling (empty when none was needed).

    ``task`` is the task of these images (:meth:`panet.tasks.Task.for_channels`); it
    prepares the input (a raw Bayer frame, a mosaic's phase) and knows how the input was
    made. ``tiling`` (:func:`model_tiling`; ``None``: the whole image at once) runs the
    network. ``on_plan``, if given, is told how many network calls the prepared image takes
    (a shifted mosaic is one row or column larger) and may return a callback called after
    each. ``consistent`` moves the output onto the images that give the input back where
    the task knows how the input was made (:meth:`panet.tasks.Task.keep_input`: SR outputs
    shrink back to it, demosaiced ones keep the mosaic's samples); ``jpeg_grid`` (a JPEG
    input's luma table, :mod:`panet.degradations.jpeg_constraint`) keeps the output's luma
    within the file's quantisation intervals. The note says when either applied."""
    import numpy as np

    image = original = np.asarray(pixels, dtype=np.float32)   # original: kept for consistency
    wanted = input_channels(model)
    gray_out = False
    image, shift, note = task.prepare_input(image, pattern, trained_pattern(model))
    if wanted == 1 and image.shape[2] == 3:
        batch = torch.from_numpy(image.transpose(2, 0, 1).copy())[:, None]
        note = "gray model run on each colour channel"
    elif wanted == 3 and image.shape[2] == 1:
        batch = torch.from_numpy(np.repeat(image, 3, axis=2).transpose(2, 0, 1).copy())[None]
        gray_out, note = True, "gray image run through a colour model"
    else:
        batch = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    batch = batch.to(device)
    scale = model_scale(model)
    tiling = tiling or Tiles(None, scale=scale)

    def forward(t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(t.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return model(t).float()

    on_tile = on_plan(tiling.calls(*batch.shape[-2:])) if on_plan is not None else None
    with torch.inference_mode():
        out = tiling(forward, batch, on_tile)
        del batch
        out = out.clamp_(0, 1).cpu().numpy()
    if wanted == 1 and image.shape[2] == 3:
        result = out[:, 0].transpose(1, 2, 0)
    else:
        result = out[0].transpose(1, 2, 0)
    if gray_out:
        result = result.mean(axis=2, keepdims=True)
    result = result[shift[0] * scale:, shift[1] * scale:]
    if consistent and task.keeps_input:
        # in place: the result is this function's own buffer (an upscaled photo is large)
        result = task.keep_input(result, original, pattern=pattern, scale=scale, in_place=True)
        note = "; ".join(filter(None, [note, CONSISTENT_NOTE]))
    if jpeg_grid is not None:
        result = project_onto_jpeg(result, original, jpeg_grid)
        note = "; ".join(filter(None, [note, JPEG_KEPT_NOTE]))
    return result.astype(np.float32, copy=False), note
