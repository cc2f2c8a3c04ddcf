"""Running a restoration network on whole images: tiles, the paper's chop, self-ensemble.

* :func:`tiled_forward` - overlapping tiles blended with linear ramps, so images of any
  size fit a memory budget; a tile at least the image size is plain inference, exactly.
* :func:`paper_chop_forward` - the authors' test-time chopping (SPEC §4), to compare with
  the paper's numbers.
* :func:`ensemble_forward` - the 8 flips/rotations averaged (the paper's self-ensemble).

Attention only sees its tile: a smaller tile is cheaper (time grows with the square of the
tile's pixel count) but gives the attention fewer places to look.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from panet.degradations import bayer_shift
from panet.models.card import model_card
from panet.tasks import for_images

__all__ = ["tiled_forward", "paper_chop_forward", "ensemble_forward", "tile_for_budget",
           "tile_starts", "bayer_shift", "model_scale", "resolve_model", "restore_pixels",
           "forward_calls", "paper_chop_pieces", "paper_min_pixels", "image_buffer_bytes",
           "tile_for_memory", "preferred_tile", "default_overlap"]

Forward = Callable[[torch.Tensor], torch.Tensor]


def model_scale(model: nn.Module) -> int:
    """Upscaling factor of a model (1 for same-size restoration), from its card."""
    return model_card(model).scale


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: step ``tile - overlap``, the last tile flush with the end.

    >>> tile_starts(100, 48, 8)
    [0, 40, 52]
    """
    if tile >= size:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    return starts + [size - tile]


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1 inside, falling over ``overlap`` samples towards sides shared with another tile.

    The outer quarter of the overlap gets almost no weight: those pixels saw the tile's zero
    padding; the neighbouring tile, for which they are inside, covers them.
    """
    weights = torch.ones(length, dtype=torch.float64)
    if overlap > 0:
        margin = overlap // 4
        rise = (torch.arange(overlap, dtype=torch.float64) - margin + 1) / (overlap - 2 * margin + 1)
        rise = rise.clamp(1e-3, 1.0)
        count = min(overlap, length)
        if not at_start:
            weights[:count] = torch.minimum(weights[:count], rise[:count])
        if not at_end:
            weights[-count:] = torch.minimum(weights[-count:], rise[:count].flip(0))
    return weights


def tiled_forward(forward: Forward, x: torch.Tensor, tile: int, overlap: int = 16,
                  scale: int = 1, on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """``forward`` over overlapping ``tile x tile`` tiles of ``x`` (B x C x H x W), blended.

    Overlaps are cross-faded with linear ramps. When ``tile`` covers the whole image this is
    exactly ``forward(x)``.
    """
    height, width = x.shape[-2:]
    if tile >= height and tile >= width:
        result = forward(x)
        if on_tile:
            on_tile()
        return result
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    accumulate = torch.promote_types(x.dtype, torch.float32)
    out = weight = None
    for top in rows:
        for left in cols:
            bottom, right = min(top + tile, height), min(left + tile, width)
            # float32 accumulators (float64 for float64 input): a 24-MP colour output then
            # needs 288 MB, and at most four tiles overlap any pixel
            y = forward(x[..., top:bottom, left:right]).to(accumulate)
            if out is None:
                out = y.new_zeros(*y.shape[:-2], height * scale, width * scale)
                weight = y.new_zeros(height * scale, width * scale)
            ramp = torch.outer(
                _ramp((bottom - top) * scale, overlap * scale, top == 0, bottom == height),
                _ramp((right - left) * scale, overlap * scale, left == 0, right == width)
            ).to(accumulate)
            window = (slice(top * scale, bottom * scale), slice(left * scale, right * scale))
            out[..., window[0], window[1]] += y * ramp
            weight[window] += ramp
            if on_tile:
                on_tile()
    return out.div_(weight).to(x.dtype)


def paper_chop_forward(forward: Forward, x: torch.Tensor, min_pixels: int, shave: int = 10,
                       scale: int = 1, on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """The authors' test-time chop: four overlapping quadrants of ``(h/2+shave) x (w/2+shave)``,
    split again while a quadrant has ``min_pixels`` or more, stitched without the overlap.

    The paper used ``min_pixels`` 6800 for denoising and 6400 for the other tasks.
    """
    height, width = x.shape[-2:]
    half_h, half_w = height // 2, width // 2
    # Below 2*shave pixels a quadrant would be larger than the image (the authors' code
    # then slices from the wrong end); it is clamped to the image instead.
    size_h, size_w = min(half_h + shave, height), min(half_w + shave, width)
    pieces = [x[..., :size_h, :size_w], x[..., :size_h, width - size_w:],
              x[..., height - size_h:, :size_w], x[..., height - size_h:, width - size_w:]]
    # The second test stops a recursion the authors' code would never leave (quadrants stop
    # shrinking at 2*shave pixels); it never triggers with their 6400/6800 thresholds.
    if size_h * size_w < min_pixels or (size_h >= height and size_w >= width):
        outputs = []
        for piece in pieces:
            outputs.append(forward(piece))
            if on_tile:
                on_tile()
    else:
        outputs = [paper_chop_forward(forward, piece, min_pixels, shave, scale, on_tile)
                   for piece in pieces]
    s = scale
    H, W, hh, hw, sh, sw = height * s, width * s, half_h * s, half_w * s, size_h * s, size_w * s
    out = outputs[0].new_empty(*outputs[0].shape[:-2], H, W)
    out[..., :hh, :hw] = outputs[0][..., :hh, :hw]
    out[..., :hh, hw:] = outputs[1][..., :hh, sw - W + hw:]
    out[..., hh:, :hw] = outputs[2][..., sh - H + hh:, :hw]
    out[..., hh:, hw:] = outputs[3][..., sh - H + hh:, sw - W + hw:]
    return out


def paper_min_pixels(task: str) -> int:
    """The authors' chop threshold: 6800 pixels for denoising, 6400 for the other tasks."""
    from panet.tasks import get_task

    return get_task(task).paper_min_pixels


def paper_chop_pieces(height: int, width: int, min_pixels: int, shave: int = 10) -> int:
    """How many network calls :func:`paper_chop_forward` makes on a ``height x width`` image.

    >>> paper_chop_pieces(256, 256, 6800)   # 256 -> 138 -> 79 pixels: 4 x 4 pieces
    16
    """
    size_h, size_w = min(height // 2 + shave, height), min(width // 2 + shave, width)
    if size_h * size_w < min_pixels or (size_h >= height and size_w >= width):
        return 4
    return 4 * paper_chop_pieces(size_h, size_w, min_pixels, shave)


def forward_calls(height: int, width: int, *, tile: int | None, overlap: int = 16,
                  protocol: str = "default", task: str = "denoise",
                  ensemble: bool = False) -> int:
    """Network calls :func:`restore_pixels` makes on one image (the progress bar's total)."""
    if protocol == "paper":
        calls = paper_chop_pieces(height, width, paper_min_pixels(task))
    elif not tile or (tile >= height and tile >= width):
        calls = 1
    else:
        calls = len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))
    return calls * (8 if ensemble else 1)


def _dihedral(x: torch.Tensor, index: int, inverse: bool = False) -> torch.Tensor:
    ops = [lambda t: t.transpose(-2, -1) if index & 4 else t,
           lambda t: t.flip(-2) if index & 2 else t,
           lambda t: t.flip(-1) if index & 1 else t]
    for op in (reversed(ops) if inverse else ops):
        x = op(x)
    return x


def ensemble_forward(forward: Forward, x: torch.Tensor) -> torch.Tensor:
    """Mean of ``forward`` over the 8 flips/rotations of ``x``, each undone."""
    total = None
    for index in range(8):
        y = _dihedral(forward(_dihedral(x, index)), index, inverse=True).double()
        total = y if total is None else total + y
    return (total / 8).to(x.dtype)


def tile_for_budget(model: nn.Module, budget_bytes: int, largest: int = 128) -> int:
    """The largest square tile whose attention fits ``budget_bytes`` (capped at ``largest``,
    since time per pixel grows with the tile's area)."""
    from panet.attention import PyramidAttention

    blocks = [m for m in model.modules() if isinstance(m, PyramidAttention)]
    if not blocks:
        return largest
    per_pixel = 0.0
    for block in blocks[:1]:   # blocks run one after another; the largest one counts
        patch = block.patch_size ** 2
        keys_per_pixel = sum(s * s for s in block.scales)
        # unfolded values (twice while concatenated), keys and queries, folded output
        per_pixel = 4 * (keys_per_pixel * (2 * block.channels + block.channels // block.reduction)
                         * patch + (block.channels // block.reduction + block.channels) * patch)
        fixed = block.block_bytes
    side = int(math.sqrt(max(1.0, (budget_bytes - fixed) / (per_pixel * 1.25))))
    return max(16, min(largest, side))


# What the Python process holds before any image: interpreter, torch, numpy, Pillow.
PROCESS_BASE_BYTES = 600 * 2**20


def image_buffer_bytes(height: int, width: int, channels: int, scale: int = 1) -> int:
    """Whole-image memory of one restoration besides the network: two float32 copies of the
    input (the decoded array, the batch tensor), the float32 output accumulator, its blend
    weights, and two output-sized copies while it is clamped and written."""
    pixels_in, pixels_out = height * width, height * width * scale * scale
    return 4 * (2 * channels * pixels_in + (3 * channels + 1) * pixels_out)


def preferred_tile(model: nn.Module) -> int | None:
    """The tile a trained model was made for (``restore_tile`` in its weights' metadata:
    the shipped models use their training crop, so attention sees the context it learned
    from, at a fraction of the time a larger tile costs)."""
    return model_card(model).restore_tile


def default_overlap(tile: int) -> int:
    """Overlap of neighbouring tiles when none is given: a sixth of the tile, 8 to 16 px.

    >>> default_overlap(48), default_overlap(128), default_overlap(32)
    (8, 16, 8)
    """
    return min(16, max(8, tile // 6))


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


# ---- models by name or file -----------------------------------------------------------------

def resolve_model(spec: str | None, task: str, scale: int | None = None,
                  channels: int | None = None) -> tuple[nn.Module, bool]:
    """``(model in eval mode, has_random_weights)`` for a shipped model's name, a registered
    architecture name, a panet ``.safetensors`` file, a ``panet train`` checkpoint or an
    authors' ``.pt`` checkpoint.

    ``None`` takes the task's shipped model for images of ``channels`` channels (a gray
    denoiser for gray images; the colour JPEG model for colour images under task ``jpeg``),
    else the task's default architecture. Raises ``KeyError`` (with a one-line message
    listing the known names) for an unknown name."""
    import os

    from panet.checkpoints import load_model, load_official_checkpoint
    from panet.models import create_model, list_models
    from panet.pretrained import default_for, load_pretrained, pretrained_entry

    if spec is None:
        shipped = default_for(task, scale, channels)
        if shipped is not None:
            return load_pretrained(shipped), False
    if spec is None:
        spec = for_images(task, channels or 3).default_architecture.format(scale=scale or 2)
    if pretrained_entry(spec) is not None:
        return load_pretrained(pretrained_entry(spec)), False
    if os.path.isfile(spec):
        if spec.endswith((".pt", ".pth")):
            from panet.train.warm_start import is_training_checkpoint, load_source

            model = load_source(spec) if is_training_checkpoint(spec) \
                else load_official_checkpoint(spec)
        else:
            model = load_model(spec)
        return model.eval(), False
    if spec not in list_models():
        raise KeyError(f"unknown model {spec!r} (not a file either); known models: "
                       f"{', '.join(list_models())}")
    return create_model(spec).eval(), True


# ---- whole files -----------------------------------------------------------------------------

def input_channels(model: nn.Module) -> int:
    """Channels of the images ``model`` takes, from its card."""
    return model_card(model).in_channels


def trained_pattern(model: nn.Module) -> str | None:
    """The Bayer pattern a demosaicing model was trained on, from its card."""
    return model_card(model).pattern


def restore_pixels(model: nn.Module, pixels, *, task: str = "denoise", pattern: str = "RGGB",
                   tile: int | None = None, overlap: int = 16, ensemble: bool = False,
                   protocol: str = "default", dtype: torch.dtype | None = None,
                   device: str | torch.device = "cpu",
                   on_tile: Callable[[], None] | None = None):
    """Restore one ``H x W x C`` float image in [0, 1]; returns ``(H*s) x (W*s) x C`` and a
    note about channel handling (empty when none was needed)."""
    import numpy as np

    image = np.asarray(pixels, dtype=np.float32)
    wanted = input_channels(model)
    gray_out = False
    # the family's own input handling (demosaicing: raw Bayer frames, the mosaic's phase)
    image, shift, note = for_images(task, wanted).prepare_input(image, pattern,
                                                                trained_pattern(model))
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

    def forward(t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(t.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return model(t).float()

    def whole(t: torch.Tensor) -> torch.Tensor:
        if protocol == "paper":
            return paper_chop_forward(forward, t, paper_min_pixels(task), scale=scale,
                                      on_tile=on_tile)
        return tiled_forward(forward, t, tile or max(t.shape[-2:]), overlap, scale, on_tile)

    with torch.inference_mode():
        out = ensemble_forward(whole, batch) if ensemble else whole(batch)
        del batch
        out = out.clamp_(0, 1).cpu().numpy()
    if wanted == 1 and image.shape[2] == 3:
        result = out[:, 0].transpose(1, 2, 0)
    else:
        result = out[0].transpose(1, 2, 0)
    if gray_out:
        result = result.mean(axis=2, keepdims=True)
    result = result[shift[0] * scale:, shift[1] * scale:]
    return result.astype(np.float32, copy=False), note
