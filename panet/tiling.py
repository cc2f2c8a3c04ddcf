"""How a network meets a whole image: tiles, the authors' chop, the self-ensemble.

Each way is an object with one interface (a :class:`Tiling`): call it with the network's
``forward`` and an image batch ``B x C x H x W``, or ask how many network calls it will make
on an image (the progress bar's total), which it answers by running its own recursion on a
shape-only ("meta") tensor, so the count can never drift from what a call does.

* :class:`Tiles` - overlapping tiles blended with linear ramps, so images of any size fit a
  memory budget; a tile at least the image size is plain inference, exactly.
* :class:`PaperChop` - the authors' test-time chopping (SPEC §4), to compare with the
  paper's numbers.
* :class:`SelfEnsemble` - another tiling averaged over the 8 flips/rotations (the paper's
  self-ensemble).

Attention only sees its tile: a smaller tile is cheaper (time grows with the square of the
tile's pixel count) but gives the attention fewer places to look.

>>> tiles = Tiles(tile=48, overlap=8)
>>> tiles.calls(100, 60), SelfEnsemble(tiles).calls(100, 60)
(6, 48)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from panet.data.datasets import dihedral

__all__ = ["Tiling", "Tiles", "PaperChop", "SelfEnsemble", "make_tiling", "tile_starts",
           "Forward"]

Forward = Callable[[torch.Tensor], torch.Tensor]
OnTile = Callable[[], None] | None


class Tiling(Protocol):
    """A way to run ``forward`` over a whole image."""

    def __call__(self, forward: Forward, x: torch.Tensor, on_tile: OnTile = None
                 ) -> torch.Tensor:
        """The restored batch; ``on_tile`` is called after every network call."""

    def calls(self, height: int, width: int) -> int:
        """Network calls on one ``height x width`` image."""


def _count_calls(tiling: Tiling, height: int, width: int, scale: int) -> int:
    """Run ``tiling`` on a shape-only tensor with a stand-in network and count the calls."""
    count = [0]

    def stand_in(t: torch.Tensor) -> torch.Tensor:
        count[0] += 1
        return t.new_empty(*t.shape[:-2], t.shape[-2] * scale, t.shape[-1] * scale)

    tiling(stand_in, torch.empty(1, 1, height, width, device="meta"))
    return count[0]


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


@dataclass(frozen=True)
class Tiles:
    """Overlapping ``tile x tile`` tiles blended with ramps (``None``: the whole image)."""

    tile: int | None = None
    overlap: int = 16
    scale: int = 1

    def __call__(self, forward: Forward, x: torch.Tensor, on_tile: OnTile = None
                 ) -> torch.Tensor:
        """Overlaps are cross-faded with linear ramps; a tile covering the whole image is
        exactly ``forward(x)``."""
        tile, overlap, scale = self.tile or max(x.shape[-2:]), self.overlap, self.scale
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
                # float32 accumulators (float64 for float64 input): a 24-MP colour output
                # then needs 288 MB, and at most four tiles overlap any pixel
                y = forward(x[..., top:bottom, left:right]).to(accumulate)
                if out is None:
                    out = y.new_zeros(*y.shape[:-2], height * scale, width * scale)
                    weight = y.new_zeros(height * scale, width * scale)
                ramp = torch.outer(
                    _ramp((bottom - top) * scale, overlap * scale, top == 0, bottom == height),
                    _ramp((right - left) * scale, overlap * scale, left == 0, right == width)
                ).to(accumulate)
                rows_out = slice(top * scale, bottom * scale)
                cols_out = slice(left * scale, right * scale)
                out[..., rows_out, cols_out] += y * ramp
                weight[rows_out, cols_out] += ramp
                if on_tile:
                    on_tile()
        return out.div_(weight).to(x.dtype)

    def calls(self, height: int, width: int) -> int:
        if not self.tile or (self.tile >= height and self.tile >= width):
            return 1
        return len(tile_starts(height, self.tile, self.overlap)) * \
            len(tile_starts(width, self.tile, self.overlap))


@dataclass(frozen=True)
class PaperChop:
    """The authors' chop: quadrants split until they hold fewer than ``min_pixels``."""

    min_pixels: int = 6400
    shave: int = 10
    scale: int = 1

    def __call__(self, forward: Forward, x: torch.Tensor, on_tile: OnTile = None
                 ) -> torch.Tensor:
        """Four overlapping quadrants of ``(h/2+shave) x (w/2+shave)``, split again while a
        quadrant has ``min_pixels`` or more, stitched without the overlap."""
        min_pixels, shave, scale = self.min_pixels, self.shave, self.scale
        height, width = x.shape[-2:]
        half_h, half_w = height // 2, width // 2
        # Below 2*shave pixels a quadrant would be larger than the image (the authors' code
        # then slices from the wrong end); it is clamped to the image instead.
        size_h, size_w = min(half_h + shave, height), min(half_w + shave, width)
        pieces = [x[..., :size_h, :size_w], x[..., :size_h, width - size_w:],
                  x[..., height - size_h:, :size_w], x[..., height - size_h:, width - size_w:]]
        # The second test stops a recursion the authors' code would never leave (quadrants
        # stop shrinking at 2*shave pixels); it never triggers with their 6400/6800 limits.
        if size_h * size_w < min_pixels or (size_h >= height and size_w >= width):
            outputs = []
            for piece in pieces:
                outputs.append(forward(piece))
                if on_tile:
                    on_tile()
        else:
            outputs = [self(forward, piece, on_tile) for piece in pieces]
        s = scale
        H, W, hh, hw = height * s, width * s, half_h * s, half_w * s
        sh, sw = size_h * s, size_w * s
        out = outputs[0].new_empty(*outputs[0].shape[:-2], H, W)
        out[..., :hh, :hw] = outputs[0][..., :hh, :hw]
        out[..., :hh, hw:] = outputs[1][..., :hh, sw - W + hw:]
        out[..., hh:, :hw] = outputs[2][..., sh - H + hh:, :hw]
        out[..., hh:, hw:] = outputs[3][..., sh - H + hh:, sw - W + hw:]
        return out

    def calls(self, height: int, width: int) -> int:
        return _count_calls(self, height, width, self.scale)


@dataclass(frozen=True)
class SelfEnsemble:
    """``inner`` on each of the 8 flips/rotations of the image, undone and averaged."""

    inner: Tiling

    def __call__(self, forward: Forward, x: torch.Tensor, on_tile: OnTile = None
                 ) -> torch.Tensor:
        total = None
        for index in range(8):
            y = self.inner(forward, dihedral(x, index, axes=(-2, -1)), on_tile)
            y = dihedral(y, index, axes=(-2, -1), inverse=True).double()
            total = y if total is None else total + y
        return (total / 8).to(x.dtype)

    def calls(self, height: int, width: int) -> int:
        # transposed copies (index bit 4) are width x height
        return sum(self.inner.calls(*((width, height) if index & 4 else (height, width)))
                   for index in range(8))


def make_tiling(protocol: str = "default", tile: int | None = None, overlap: int = 16,
                ensemble: bool = False, min_pixels: int = 6400, scale: int = 1) -> Tiling:
    """The tiling that ``panet restore``/``panet eval`` options describe."""
    if protocol not in ("default", "paper"):
        raise ValueError(f"protocol must be 'default' or 'paper', got {protocol!r}")
    inner = PaperChop(min_pixels, scale=scale) if protocol == "paper" else \
        Tiles(tile, overlap, scale)
    return SelfEnsemble(inner) if ensemble else inner
