"""What a JPEG file still knows about its original: each 8x8 luma block's DCT coefficients
were rounded to a multiple of the quantisation table, so the original's coefficients lie
within half a step of the decoded ones. Clipping a restored image's coefficients into those
intervals (a projection onto a convex set that holds the original) can only bring it closer
to the original in luma; it undoes a network's over-smoothing of detail the file kept.

>>> from panet.degradations import jpeg_roundtrip
>>> wave = 120 + 60 * np.sin(np.arange(24) / 2)[None, :] + 40 * np.cos(np.arange(16))[:, None]
>>> clean = wave.astype(np.uint8)[..., None] / 255
>>> decoded = jpeg_roundtrip(clean, 30)
>>> flat = np.full_like(decoded, 0.5)      # a restoration that lost everything
>>> restored = project_onto_jpeg(flat, decoded, standard_grid(30))
>>> bool(((restored - clean) ** 2).mean() < ((flat - clean) ** 2).mean() / 10)
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage, ImageOps

from panet.degradations.jpeg import _standard_luma_tables

__all__ = ["JPEGGrid", "standard_grid", "read_grid", "project_onto_jpeg", "dct8"]

#: JFIF luma weights: JPEG's Y is this mix of R, G, B (Cb and Cr are orthogonal to grey).
_JFIF_LUMA = np.array([0.299, 0.587, 0.114])
#: Steps this small carry little constraint, and a decoded pixel's rounding can put the
#: estimated step index off by one (measured: at quality 90, steps of 3 and 4); they are
#: left alone.
_SMALLEST_STEP = 5.0
#: How far (levels) the file's luma, rebuilt from the estimated step indices, may differ
#: from the decoded luma before a block is left alone: rounding of the decoded pixels and
#: of the decoder's integer IDCT stay within it.
_REBUILD_TOLERANCE = 1.0
_ORIENTATION = 0x0112   # the EXIF tag


def dct8() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix (JPEG's FDCT is ``dct8() @ block @ dct8().T``)."""
    frequency, position = np.arange(8)[:, None], np.arange(8)[None, :]
    matrix = np.cos((2 * position + 1) * frequency * np.pi / 16) * 0.5
    matrix[0] /= np.sqrt(2)
    return matrix


@dataclass(frozen=True)
class JPEGGrid:
    """The luma quantisation table of a JPEG (8 x 8, natural order) and how the image being
    restored sits on the file's 8x8 blocks: ``orientation`` is the EXIF orientation that
    turned the file's ``file_size`` (rows, columns) pixels upright when it was loaded
    (1: as stored)."""

    luma_table: np.ndarray
    orientation: int = 1
    file_size: tuple[int, int] | None = None

    def source(self) -> tuple[np.ndarray, np.ndarray] | None:
        """File row and column of each pixel of the upright image (``None``: the same)."""
        if self.orientation == 1 or self.file_size is None:
            return None
        rows, cols = self.file_size
        probe = PILImage.fromarray(np.arange(rows * cols, dtype=np.int32).reshape(rows, cols),
                                   mode="I")
        tags = PILImage.Exif()
        tags[_ORIENTATION] = self.orientation
        probe.info["exif"] = tags.tobytes()
        # the very turn that loading applied (panet.io uses ImageOps.exif_transpose too)
        index = np.asarray(ImageOps.exif_transpose(probe), dtype=np.int32)
        return np.divmod(index, np.int32(cols))


def standard_grid(quality: int) -> JPEGGrid:
    """The grid of Pillow's encoder at ``quality`` (what ``panet eval`` and the demo make)."""
    return JPEGGrid(np.asarray(_standard_luma_tables()[int(quality)], np.float64).reshape(8, 8))


def read_grid(path: str) -> JPEGGrid | None:
    """The grid of a JPEG file; ``None`` for other files and for JPEGs whose first
    component is not luma (CMYK, Adobe RGB without colour transform)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            opened = PILImage.open(path)
        except (OSError, SyntaxError, ValueError):
            return None
    with opened:
        if opened.format != "JPEG" or opened.mode not in ("L", "RGB"):
            return None
        if opened.info.get("adobe") is not None and opened.info.get("adobe_transform") == 0 \
                and opened.mode == "RGB":
            return None   # components are R, G, B: no luma block to constrain
        tables = getattr(opened, "quantization", None) or {}
        layers = getattr(opened, "layer", None) or [(1, 1, 1, 0)]
        table = tables.get(layers[0][3])
        if table is None or len(table) != 64:
            return None
        orientation = opened.getexif().get(_ORIENTATION, 1)
        width, height = opened.size
    return JPEGGrid(np.asarray(table, dtype=np.float64).reshape(8, 8),
                    orientation if orientation in range(1, 9) else 1, (height, width))


def _luma(image: np.ndarray) -> np.ndarray:
    """Luma levels (0-255, float32, ``H x W``) of an ``H x W x C`` image in [0, 1]."""
    if image.shape[2] == 1:
        return image[..., 0].astype(np.float32) * np.float32(255)
    return image.astype(np.float32, copy=False) @ (_JFIF_LUMA * 255).astype(np.float32)


def _project_luma(restored: np.ndarray, decoded: np.ndarray, clipped: np.ndarray,
                  table: np.ndarray) -> np.ndarray:
    """Clip the DCT coefficients of the full 8x8 blocks of ``restored`` (luma levels,
    0-255) into the quantisation intervals of ``decoded``; returns the change.

    The intervals come from ``decoded``'s own coefficients, rounded to the table. A block
    is used only where the luma rebuilt from those steps matches ``decoded`` (within
    :data:`_REBUILD_TOLERANCE`; beyond the clip where ``clipped`` is +1 or -1, anything
    where it is 2): clipping to 0 or 255 can put the estimate off, and this catches it."""
    rows, cols = restored.shape[0] // 8, restored.shape[1] // 8
    change = np.zeros_like(restored)
    if not rows or not cols:
        return change
    basis, active = dct8(), table >= _SMALLEST_STEP

    def blocks(band: np.ndarray) -> np.ndarray:   # whole block rows in, blocks out
        return band[:, :cols * 8].reshape(-1, 8, cols, 8).transpose(0, 2, 1, 3)

    for top in range(0, rows, 64):   # bands of 64 block rows keep the memory small
        band = slice(top * 8, min(rows, top + 64) * 8)
        ours = basis @ (blocks(restored[band]) - 128.0) @ basis.T
        seen = blocks(decoded[band])
        step = np.round(basis @ (seen - 128.0) @ basis.T / table)
        error = basis.T @ (step * table) @ basis + 128.0 - seen
        side = blocks(clipped[band])
        tolerance = _REBUILD_TOLERANCE
        consistent = np.where(side == 0, np.abs(error) <= tolerance,
                              np.where(side == 1, error >= -tolerance,
                                       np.where(side == -1, error <= tolerance, True)))
        inside = np.clip(ours, (step - 0.5) * table, (step + 0.5) * table)
        delta = np.where(active, inside - ours, 0.0)
        delta[~consistent.all(axis=(2, 3))] = 0.0
        pixels = (basis.T @ delta @ basis).transpose(0, 2, 1, 3)
        change[band.start:band.stop, :cols * 8] = pixels.reshape(-1, cols * 8)
    return change


def project_onto_jpeg(restored: np.ndarray, decoded: np.ndarray, grid: JPEGGrid) -> np.ndarray:
    """``restored`` (``H x W x C`` in [0, 1], C = 1 or 3) with its luma moved into the
    quantisation intervals of ``decoded`` (the JPEG as decoded, the network's input);
    float32.

    Blocks that cross the image's edge, and blocks whose coefficients cannot be read back
    from the decoded pixels (clipped to 0 or 255 beyond repair), are left as they are.
    Colour images get the same luma change on R, G and B, which leaves JPEG's Cb and Cr as
    they were. Memory: a few ``H x W`` float32 planes beside the two images.
    """
    restored, decoded = np.asarray(restored), np.asarray(decoded)
    if restored.shape != decoded.shape:
        raise ValueError(f"restored {restored.shape} and decoded {decoded.shape} differ")
    source = grid.source()
    if source is not None and source[0].shape != restored.shape[:2]:
        raise ValueError(f"the JPEG grid maps {source[0].shape} pixels, the image has "
                         f"{restored.shape[:2]}")
    high = (decoded > 254.5 / 255).any(axis=2)
    low = (decoded < 0.5 / 255).any(axis=2)
    # 0: not clipped; 1: a channel clipped at 255 (the file's luma is higher), -1: at 0
    clipped = np.where(high & low, 2, high.astype(np.int8) - low.astype(np.int8)).astype(np.int8)
    del high, low
    planes = (_luma(restored), _luma(decoded), clipped)
    if source is None:
        change = _project_luma(*planes, grid.luma_table)
    else:   # project where the blocks are: in the file's layout
        rows, cols = source
        layout = [np.zeros(grid.file_size, plane.dtype) for plane in planes]
        for target, plane in zip(layout, planes):
            target[rows, cols] = plane
        del planes
        change = _project_luma(*layout, grid.luma_table)[rows, cols]
    out = restored.astype(np.float32, copy=True)
    out += (change / np.float32(255))[..., None]
    return np.clip(out, 0.0, 1.0, out=out)
