"""The pyramid attention block of Mei et al. (PANet), exact and memory-frugal."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from panet.attention.kernel import (DEFAULT_BLOCK_BYTES, DEFAULT_KEEP_BYTES, attend,
                                    attend_for_export, attend_sdpa, fold_for_export)
from panet.hardware import has_fast_low_precision

__all__ = ["PyramidAttention", "PointwiseEmbedding", "pyramid_level_size", "resize_level",
           "DEFAULT_SCALES", "attention_blocks"]

#: The paper's five pyramid levels.
DEFAULT_SCALES: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6)

Resample = Literal["legacy", "modern"]
LowPrecisionKernel = Literal["auto", "native", "float32"]
Kernel = Literal["auto", "blockwise", "sdpa"]
#: The attention kernels ``PyramidAttention(kernel=...)`` takes.
KERNELS: tuple[str, ...] = get_args(Kernel)


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")


def pyramid_level_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Size of one pyramid level: ``floor(H*s) x floor(W*s)`` (may be 0 for tiny inputs).

    >>> pyramid_level_size(48, 33, 0.7)
    (33, 23)
    """
    return math.floor(height * scale), math.floor(width * scale)


def resize_level(x: torch.Tensor, scale: float, resample: Resample = "legacy") -> torch.Tensor:
    """Bicubic resize of ``x`` for one pyramid level.

    ``legacy`` reproduces PyTorch 1.1, which the released weights were trained with: the
    output size is ``floor(H*s)`` and the sampling step follows from that size. ``modern``
    is PyTorch >= 1.6 ``scale_factor`` semantics (step ``1/s``), which changes the output.
    """
    if scale == 1.0:
        return x
    if resample == "legacy":
        size = pyramid_level_size(x.shape[-2], x.shape[-1], scale)
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    if resample == "modern":
        return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False,
                             recompute_scale_factor=False)
    raise ValueError(f"resample must be 'legacy' or 'modern', got {resample!r}")


class PointwiseEmbedding(nn.Module):
    """1x1 convolution followed by a single-slope PReLU (the θ, φ and g embeddings)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.act = nn.PReLU(num_parameters=1, init=0.25)

    def forward(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Apply the embedding, optionally with parameters cast to ``dtype``."""
        if dtype is None:
            return self.act(self.conv(x))
        weight, bias = self.conv.weight.to(dtype), self.conv.bias.to(dtype)
        return F.prelu(F.conv2d(x.to(dtype), weight, bias), self.act.weight.to(dtype))


class PyramidAttention(nn.Module):
    """Non-local attention over a multi-scale feature pyramid with patch matching.

    Every 3x3 feature patch of the input (the query) is compared with every 3x3 patch of
    bicubic-downscaled copies of the input (the keys, L2-normalised); one softmax over all
    levels weights the matching value patches, which are folded back and added to the input.
    The result equals the authors' module, but queries are processed in blocks so the
    ``N x L`` score matrix never exists whole (memory grows linearly with the pixel count),
    and the backward pass recomputes scores block by block.

    Args:
        channels: feature channels C of the input.
        reduction: embedding reduction r (keys and queries have C/r channels).
        scales: pyramid levels; ``(1.0,)`` is a single-scale (non-local) attention.
        patch_size: matching patch size (odd); ``1`` is pixel-wise non-local attention.
        softmax_scale: multiplier of the matching scores before the softmax.
        res_scale: weight of the residual input in ``out + res_scale * x``.
        resample: ``"legacy"`` (PyTorch 1.1 pyramid sizes, needed by the released
            weights) or ``"modern"`` (PyTorch >= 1.6 ``scale_factor``).
        output_divisor: the folded value patches are divided by this (the authors use 4
            for 3x3 patches, not 9).
        key_eps: lower bound of a key patch norm before division.
        block_bytes: memory budget for one block of matching scores.
        keep_bytes: when training, the scores of the whole batch are kept for the backward
            pass if they fit in this many bytes (faster); ``0`` always recomputes them.
        low_precision_kernel: for bfloat16/float16 input or autocast: ``"native"`` runs the
            aggregation of values and the four products of the backward pass as
            low-precision matrix products while matching and softmax stay float32; ``"float32"`` computes everything
            in float32; ``"auto"`` picks native only where the hardware has fast
            low-precision matrix products (detected, see ``panet.hardware``).
        kernel: how matching, softmax and aggregation run: ``"blockwise"``, the block
            kernel (:func:`panet.attention.kernel.attend`, the fastest on CPUs);
            ``"sdpa"``, one fused ``scaled_dot_product_attention`` call in float32 (or
            float64), the same function; ``"auto"``, the fused call on CUDA where a fused
            backend takes the shapes (else the block kernel, with a warning), the block
            kernel elsewhere. Can be changed on a built model: ``block.kernel = "sdpa"``.

    Example:
        >>> attention = PyramidAttention(channels=16, reduction=2)
        >>> attention(torch.rand(2, 16, 11, 7)).shape
        torch.Size([2, 16, 11, 7])
    """

    def __init__(self, channels: int = 64, reduction: int = 2,
                 scales: Sequence[float] = DEFAULT_SCALES, patch_size: int = 3,
                 softmax_scale: float = 10.0, res_scale: float = 1.0,
                 resample: Resample = "legacy", output_divisor: float = 4.0,
                 key_eps: float = 1e-4, block_bytes: int = DEFAULT_BLOCK_BYTES,
                 low_precision_kernel: LowPrecisionKernel = "auto",
                 keep_bytes: int = DEFAULT_KEEP_BYTES, kernel: Kernel = "auto") -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or channels % reduction:
            raise ValueError(f"channels ({channels}) must be a positive multiple of "
                             f"reduction ({reduction})")
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd number, got {patch_size}")
        scales = tuple(float(s) for s in scales)
        if not scales or any(not 0.0 < s <= 1.0 for s in scales):
            raise ValueError(f"scales must be a non-empty list of factors in (0, 1], got {scales}")
        if resample not in ("legacy", "modern"):
            raise ValueError(f"resample must be 'legacy' or 'modern', got {resample!r}")
        if low_precision_kernel not in ("auto", "native", "float32"):
            raise ValueError("low_precision_kernel must be 'auto', 'native' or 'float32', "
                             f"got {low_precision_kernel!r}")
        _check_kernel(kernel)
        if output_divisor <= 0 or key_eps <= 0 or block_bytes <= 0:
            raise ValueError("output_divisor, key_eps and block_bytes must be positive")
        if keep_bytes < 0:
            raise ValueError(f"keep_bytes must be non-negative, got {keep_bytes}")
        self.channels = channels
        self.reduction = reduction
        self.scales = scales
        self.patch_size = patch_size
        self.softmax_scale = float(softmax_scale)
        self.res_scale = float(res_scale)
        self.resample: Resample = resample
        self.output_divisor = float(output_divisor)
        self.key_eps = float(key_eps)
        self.block_bytes = int(block_bytes)
        self.keep_bytes = int(keep_bytes)
        self.low_precision_kernel: LowPrecisionKernel = low_precision_kernel
        self.kernel: Kernel = kernel
        self._warned_no_fused = False
        # (device type, dtype, matching width, value width) -> the value_chunk a fused
        # backend took, so that later calls skip the refused try and its copies
        self._fused_chunk: dict[tuple, int | None] = {}
        embed = channels // reduction
        self.query = PointwiseEmbedding(channels, embed)   # θ, applied to x only
        self.key = PointwiseEmbedding(channels, embed)     # φ, applied to every level
        self.value = PointwiseEmbedding(channels, channels)  # g, applied to every level

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, scales={self.scales}, "
                f"patch_size={self.patch_size}, softmax_scale={self.softmax_scale}, "
                f"res_scale={self.res_scale}, resample={self.resample!r}")

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"PyramidAttention expects a tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError("PyramidAttention expects a 4-D tensor B x C x H x W, "
                             f"got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"PyramidAttention expects a floating-point tensor, got {x.dtype}")
        if x.shape[1] != self.channels:
            raise ValueError(f"PyramidAttention was built for {self.channels} channels, "
                             f"got {x.shape[1]} (input shape {tuple(x.shape)})")
        if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(f"PyramidAttention got an empty input of shape {tuple(x.shape)}")

    def _kernel_dtype(self, x: torch.Tensor) -> torch.dtype:
        """Dtype of the value path: the requested low precision where it is worth it."""
        wanted = x.dtype
        if torch.is_autocast_enabled(x.device.type):
            wanted = torch.get_autocast_dtype(x.device.type)
        if wanted not in (torch.bfloat16, torch.float16):
            return x.dtype
        if self.low_precision_kernel == "native" or (
                self.low_precision_kernel == "auto" and has_fast_low_precision(x.device, wanted)):
            return wanted
        return torch.float32

    def inference_bytes(self, pixels: int) -> int:
        """Memory this block holds at inference on one ``pixels``-position feature map:
        the unfolded values (twice while they are concatenated), keys and queries, the
        folded output, and one block of scores (at most ``block_bytes``).

        >>> block = PyramidAttention(channels=64, reduction=2)
        >>> # 4 B x 9 x (3.3 x (128 + 32) + 32 + 64) per pixel x 128^2, plus 128 MiB of scores
        >>> block.inference_bytes(128 * 128) // 2**20
        479
        """
        patch = self.patch_size ** 2
        embed = self.channels // self.reduction
        keys = sum(s * s for s in self.scales)            # key patches per query position
        per_pixel = 4 * patch * (keys * (2 * self.channels + embed) + embed + self.channels)
        return int(per_pixel * pixels + self.block_bytes)

    # Run eagerly under torch.compile (train.compile): PyTorch 2.13's inductor returned
    # input gradients 2-20% off for four or more bicubic levels feeding the matching
    # (tests/test_train_compile.py); the levels alone are a few kernels.
    @torch.compiler.disable
    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature pyramid of ``x``; levels of zero size are left out."""
        height, width = x.shape[-2:]
        return [resize_level(x, s, self.resample) for s in self.scales
                if min(pyramid_level_size(height, width, s)) > 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
            return self._forward_for_export(x)
        self._check_input(x)
        height, width = x.shape[-2:]
        fused = self.kernel == "sdpa" or (self.kernel == "auto" and x.is_cuda)
        # the fused call takes one dtype: the matching precision for all three operands
        kernel_dtype = torch.float64 if fused and x.dtype == torch.float64 else \
            torch.float32 if fused else self._kernel_dtype(x)
        # Matching needs float32 (scores are multiplied by 10 before the softmax); float64
        # input stays float64 so that gradients can be checked numerically.
        match_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        unfold = dict(kernel_size=self.patch_size, padding=self.patch_size // 2)
        with torch.autocast(x.device.type, enabled=False):
            # The pyramid is built in the matching precision too: bicubic resampling in
            # bfloat16 would round every key before it is matched.
            precise = x.to(match_dtype)
            queries = F.unfold(self.query(precise, match_dtype), **unfold)
            keys, values = [], []
            for level in self.levels(precise):
                keys.append(F.unfold(self.key(level, match_dtype), **unfold))
                # embedded in float32 (a bfloat16 1x1 conv loses its weight gradient), then
                # rounded for the low-precision aggregation
                values.append(F.unfold(self.value(level, match_dtype), **unfold).to(kernel_dtype))
            keys = torch.cat(keys, dim=2)
            keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(self.key_eps)
            values = torch.cat(values, dim=2)
            gathered = self._fused(queries, keys, values) if fused else None
            if gathered is None:
                values = values.to(self._kernel_dtype(x))
                gathered = attend(queries, keys, values, self.softmax_scale, self.block_bytes,
                                  self.keep_bytes)
            out = F.fold(gathered, (height, width), **unfold) / self.output_divisor
            return out.to(x.dtype) + self.res_scale * x

    def _fused(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
               ) -> torch.Tensor | None:
        """The fused attention call on a backend that does not hold the ``N x L`` scores:
        first with the values whole, then in chunks as wide as the matching (flash
        attention needs the two equal: 9C against 9C/r), remembering which one was
        taken for these widths and dtype. If none takes the shapes,
        ``kernel="sdpa"`` runs the unfused ``math`` backend (whole score matrix) and
        ``"auto"`` returns None, with a warning once, for the block kernel."""
        refusal = None
        shape = (queries.device.type, queries.dtype, queries.shape[1], values.shape[1])
        wider = values.shape[1] > queries.shape[1]
        tries = (self._fused_chunk[shape],) if shape in self._fused_chunk else \
            (None, queries.shape[1]) if wider else (None,)
        for chunk in tries:
            try:
                out = attend_sdpa(queries, keys, values, self.softmax_scale,
                                  restrict_to_fused=True, value_chunk=chunk)
            except RuntimeError as error:
                refusal = error
                continue
            self._fused_chunk[shape] = chunk
            return out
        if self.kernel == "sdpa":
            return attend_sdpa(queries, keys, values, self.softmax_scale)
        if not self._warned_no_fused:
            self._warned_no_fused = True
            warnings.warn(f"no fused attention backend takes these shapes "
                          f"({str(refusal).splitlines()[0][:120]}); using the block kernel",
                          RuntimeWarning, stacklevel=3)
        return None

    def _forward_for_export(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for ``torch.export``/ONNX (float32): the blockwise kernel's
        Python loop and its data-dependent block sizes do not trace, so the query blocks
        become a ``scan`` of fixed-size blocks (an ONNX ``Scan``; memory grows with the
        image, not with its square). Level sizes come from ``scale_factor`` with the size
        recomputed, which is ``floor(H*s)`` and then the size-based sampling step, the
        ``legacy`` rule, as graph arithmetic (so any image size works)."""
        unfold = dict(kernel_size=self.patch_size, padding=self.patch_size // 2)
        height, width = x.shape[-2:]
        queries = F.unfold(self.query(x), **unfold)
        keys, values = [], []
        for scale in self.scales:
            level = x if scale == 1.0 else F.interpolate(
                x, scale_factor=scale, mode="bicubic", align_corners=False,
                recompute_scale_factor=self.resample == "legacy")
            keys.append(F.unfold(self.key(level), **unfold))
            values.append(F.unfold(self.value(level), **unfold))
        keys = torch.cat(keys, dim=2)
        keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(self.key_eps)
        gathered = attend_for_export(queries, keys, torch.cat(values, dim=2),
                                     self.softmax_scale)
        return fold_for_export(gathered, height, width, self.patch_size) / \
            self.output_divisor + self.res_scale * x

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, row: int, column: int) -> list[torch.Tensor]:
        """Where the query at (``row``, ``column``) of ``x`` (1 x C x H x W) looks: the
        softmax weights over every key patch, as one ``h x w`` map per pyramid level (the
        maps together sum to 1). Costs one row of the score matrix, so any size works.

        >>> block = PyramidAttention(channels=4, reduction=2)
        >>> maps = block.attention_weights(torch.rand(1, 4, 10, 8), 3, 5)
        >>> [tuple(m.shape) for m in maps], round(float(sum(m.sum() for m in maps)), 5)
        ([(10, 8), (9, 7), (8, 6), (7, 5), (6, 4)], 1.0)
        """
        self._check_input(x)
        if x.shape[0] != 1:
            raise ValueError(f"attention_weights takes one image, got a batch of {x.shape[0]}")
        height, width = x.shape[-2:]
        if not (0 <= row < height and 0 <= column < width):
            raise ValueError(f"query ({column}, {row}) is outside the {width}x{height} features")
        precise = x.float() if x.dtype != torch.float64 else x
        unfold = dict(kernel_size=self.patch_size, padding=self.patch_size // 2)
        query = F.unfold(self.query(precise), **unfold)[0, :, row * width + column]
        scores, shapes = [], []
        for level in self.levels(precise):
            keys = F.unfold(self.key(level), **unfold)[0]
            scores.append(query @ (keys / keys.norm(dim=0, keepdim=True).clamp_min(self.key_eps)))
            shapes.append(level.shape[-2:])
        weights = torch.softmax(self.softmax_scale * torch.cat(scores), dim=0)
        return [part.reshape(shape) for part, shape in
                zip(weights.split([h * w for h, w in shapes]), shapes)]


def attention_blocks(model: nn.Module) -> list[PyramidAttention]:
    """The pyramid attention blocks of any network, in the order they run.

    >>> len(attention_blocks(nn.Sequential(PyramidAttention(4, 2), nn.ReLU())))
    1
    """
    return [m for m in model.modules() if isinstance(m, PyramidAttention)]


def set_attention_kernel(model: nn.Module, kernel: Kernel) -> int:
    """Run every pyramid attention block of ``model`` on ``kernel`` (results agree within
    float32 rounding; only speed and memory differ). Returns the number of blocks.

    >>> net = nn.Sequential(PyramidAttention(4, 2), nn.ReLU(), PyramidAttention(4, 2))
    >>> set_attention_kernel(net, "blockwise"), net[2].kernel
    (2, 'blockwise')
    """
    _check_kernel(kernel)
    blocks = attention_blocks(model)
    for block in blocks:
        block.kernel = kernel
    return len(blocks)
