"""Matlab-compatible bicubic ``imresize``: Keys cubic (a = -0.5), antialiasing when
shrinking, symmetric borders. Written here because the paper's SR inputs were made with
Matlab, and the Python packages differ from it (PIL/OpenCV: no or other antialiasing;
``resize-right``: other output sizes at x3; SPEC §6).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from panet.degradations._arrays import Image, as_float, channels_of

if TYPE_CHECKING:                  # scipy is imported where it is used: restores that do not
    from scipy import sparse       # upscale never load it


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    near = (1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
    far = (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def output_size(size: int, scale: float) -> int:
    """Matlab's ``ceil(size * scale)`` (a 1e-9 slack absorbs float error, e.g. 99 * (1/3))."""
    return max(1, math.ceil(size * scale - 1e-9))


def _resize_taps(in_size: int, out_size: int, scale: float,
                 antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Matlab's bicubic contributions along one axis, as ``out_size x taps`` arrays of input
    indices (0-based, symmetric borders folded in, so one index may repeat) and weights."""
    kernel_width = 4.0 / scale if (antialias and scale < 1) else 4.0
    centres = np.arange(1, out_size + 1) / scale + 0.5 * (1 - 1 / scale)   # 1-based input coords
    left = np.floor(centres - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = centres[:, None] - indices
    if antialias and scale < 1:
        weights = scale * _cubic(scale * distance)
    else:
        weights = _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric borders: 1..n, n..1 repeated.
    period = np.concatenate([np.arange(in_size), np.arange(in_size)[::-1]])
    columns = period[np.mod(indices.astype(np.int64) - 1, 2 * in_size)]
    return columns, weights


def matlab_resize_weights(in_size: int, out_size: int, scale: float,
                          antialias: bool = True) -> np.ndarray:
    """Dense ``out_size x in_size`` matrix of Matlab's bicubic contributions along one axis."""
    columns, weights = _resize_taps(in_size, out_size, scale, antialias)
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.repeat(np.arange(out_size), columns.shape[1]), columns.ravel()),
              weights.ravel())
    return matrix


@functools.lru_cache(maxsize=64)
def _weight_tensor(size: int, scale: float, device: torch.device,
                   dtype: torch.dtype) -> torch.Tensor:
    """One axis's weights as a tensor, kept per size and device (uploaded once when a
    training loop resizes every batch on a GPU)."""
    weights = matlab_resize_weights(size, output_size(size, scale), scale)
    return torch.from_numpy(weights).to(device, dtype)


def imresize(image: Image, scale: float) -> Image:
    """Resize by ``scale`` (output/input; 0.5 halves) like Matlab's ``imresize(I, scale)``.

    Output values are not rounded or clipped (Matlab rounds uint8 results; quantise after
    if you need 8-bit data).

    >>> imresize(np.ones((6, 9, 1)), 1 / 3).shape
    (2, 3, 1)
    """
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"resize scale must be a positive number, got {scale}")
    image = as_float(image)
    channels_of(image)
    if isinstance(image, torch.Tensor):
        height, width = image.shape[-2:]
    else:
        height, width = image.shape[:2]
    if isinstance(image, torch.Tensor):
        rows_t = _weight_tensor(height, scale, image.device, image.dtype)
        cols_t = _weight_tensor(width, scale, image.device, image.dtype)
        return rows_t @ image @ cols_t.t()
    rows = matlab_resize_weights(height, output_size(height, scale), scale)
    cols = matlab_resize_weights(width, output_size(width, scale), scale)
    out = np.einsum("oh,hwc->owc", rows, image.astype(np.float64))
    return np.einsum("pw,owc->opc", cols, out).astype(image.dtype, copy=False)


def _shrink_axis(size: int, small: int, scale: int) -> tuple["sparse.csr_array", np.ndarray]:
    """The shrink of one axis by ``scale`` as a sparse float32 ``small x size`` matrix, and
    its Gram matrix (``D D^T``, float64) in the upper banded form of
    :func:`scipy.linalg.solveh_banded`."""
    from scipy import sparse

    columns, weights = _resize_taps(size, small, 1 / scale)
    entries = (weights.ravel(), (np.repeat(np.arange(small), columns.shape[1]), columns.ravel()))
    down = sparse.csr_array(entries, shape=(small, size))       # repeated indices are summed
    down.eliminate_zeros()
    gram = sparse.coo_array(down @ down.T)
    gram.sum_duplicates()                     # one entry per position, as assigned below
    upper = gram.col >= gram.row
    row, col, value = gram.row[upper], gram.col[upper], gram.data[upper]
    band = int((col - row).max())
    banded = np.zeros((band + 1, small))
    banded[band + row - col, col] = value
    return down.astype(np.float32), banded


def project_onto_downscale(restored: np.ndarray, low: np.ndarray, scale: int, *,
                           in_place: bool = False) -> np.ndarray:
    """``restored`` (``H x W x C`` in [0, 1], an upscaling of ``low`` by ``scale``) changed
    as little as possible (least squares) so that :func:`imresize` by ``1 / scale`` gives
    ``low`` back; float32, clipped to [0, 1]. ``in_place`` writes the result into
    ``restored`` (a float32 array) instead of a new array, to spare a full-size copy.

    The image an SR model is asked to find was shrunk to ``low`` by exactly this resize, so
    the images that shrink to ``low`` form a subspace holding it: moving onto it can only
    bring an upscaling closer (before the clip, and up to ``low``'s 8-bit rounding). The
    resize is separable, so the projection is one ``h x h`` and one ``w x w`` solve, both
    banded.

    >>> clean = np.random.default_rng(0).random((12, 18, 1))
    >>> low = imresize(clean, 1 / 3)
    >>> guess = np.full_like(clean, 0.5)
    >>> moved = project_onto_downscale(guess, low, 3)
    >>> bool(np.abs(imresize(moved, 1 / 3) - low).max() < 1e-5)
    True
    >>> bool(((moved - clean) ** 2).mean() < ((guess - clean) ** 2).mean())
    True
    """
    # An upscaled photo is large, so this runs one channel at a time in float32 with the
    # shrink as a sparse matrix (4 * scale + 2 taps a row) and banded solves of its Gram
    # matrices: besides the result only about one channel-sized temporary is alive, for any
    # aspect ratio (11 bytes per output pixel at x2 in place; dense per-axis matrices, an
    # earlier version, grew with the square of the longer side: 160 for 512 x 8192).
    restored, low = np.asarray(restored, np.float32), np.asarray(low, np.float32)
    (height, width), (rows, cols) = restored.shape[:2], low.shape[:2]
    if (output_size(height, 1 / scale), output_size(width, 1 / scale)) != (rows, cols) or \
            restored.shape[2] != low.shape[2]:
        raise ValueError(f"{restored.shape} does not shrink by {scale} to {low.shape}")
    from scipy.linalg import solveh_banded

    (down_rows, gram_rows), (down_cols, gram_cols) = \
        _shrink_axis(height, rows, scale), _shrink_axis(width, cols, scale)
    moved = restored if in_place else np.empty(restored.shape, np.float32)
    for channel in range(low.shape[2]):
        # correction = R^T (R R^T)^-1 (low - R x C^T) (C C^T)^-1 C
        residual = low[..., channel] - (down_rows @ restored[..., channel]) @ down_cols.T
        solved = solveh_banded(gram_rows, residual, check_finite=False)
        solved = solveh_banded(gram_cols, solved.T, check_finite=False).T
        correction = down_rows.T @ (solved.astype(np.float32) @ down_cols)
        del residual, solved
        np.add(restored[..., channel], correction, out=moved[..., channel])
        del correction
    return np.clip(moved, 0.0, 1.0, out=moved)
