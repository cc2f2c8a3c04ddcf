"""PANet (denoising, demosaicing, JPEG artifact reduction) and PA-EDSR (super-resolution)."""

from __future__ import annotations

import inspect

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from panet.attention.pyramid import DEFAULT_SCALES, PyramidAttention, attention_blocks
from panet.models.blocks import MeanShift, ResBlock, Upsampler, conv3x3

__all__ = ["PANet", "PAEDSR", "DIV2K_MEAN", "RESIDUALS", "resolve_positions",
           "bilinear_demosaic"]

#: RGB mean of DIV2K used by EDSR's mean shift (inputs in [0, 1]).
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)

_NAMED_POSITIONS = ("pre", "mid", "post")

#: What PANet's output is added to: nothing (the paper: the network outputs the image),
#: its input, or a bilinear demosaic of its (zero-filled mosaic) input.
RESIDUALS = ("none", "input", "bilinear")


def bilinear_demosaic(mosaic: torch.Tensor) -> torch.Tensor:
    """Bilinear demosaic of a zero-filled 3-channel Bayer mosaic ``B x 3 x H x W``.

    The kernels interpolate whatever the pattern's phase: at a sampled pixel only the
    centre tap meets a sample; elsewhere the taps that meet samples sum to one. Borders are
    mirrored without repeating the edge (pixel -1 is pixel 1), which keeps the pattern's
    phase. It runs in float32 even under autocast: it is the base the network's correction
    is added to.

    >>> m = torch.zeros(1, 3, 4, 4); m[0, 0, 0::2, 0::2] = 1; m[0, 1, 0::2, 1::2] = 1
    >>> m[0, 1, 1::2, 0::2] = 1; m[0, 2, 1::2, 1::2] = 1      # a flat white RGGB mosaic
    >>> bilinear_demosaic(m).unique().tolist()
    [1.0]
    """
    rb = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4
    g = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
    dtype = torch.promote_types(mosaic.dtype, torch.float32)
    kernels = torch.stack([rb, g, rb])[:, None].to(mosaic.device, dtype)
    with torch.autocast(mosaic.device.type, enabled=False):
        return F.conv2d(F.pad(mosaic.to(dtype), (1, 1, 1, 1), mode="reflect"), kernels,
                        groups=3)


def resolve_positions(positions: Sequence[str | int], n_resblocks: int) -> list[int]:
    """Map attention positions to 'after how many ResBlocks' (the paper's Table 9).

    ``pre`` is after the first block, ``mid`` after half of them, ``post`` after the last;
    an integer k means after k blocks.

    >>> resolve_positions(["pre", "mid", "post"], 16)
    [1, 8, 16]
    """
    named = {"pre": min(1, n_resblocks), "mid": n_resblocks // 2, "post": n_resblocks}
    resolved = []
    for position in positions:
        if isinstance(position, str):
            if position not in named:
                raise ValueError(f"unknown attention position {position!r}; use one of "
                                 f"{', '.join(_NAMED_POSITIONS)} or a block count")
            resolved.append(named[position])
        elif isinstance(position, int) and not isinstance(position, bool) \
                and 0 <= position <= n_resblocks:
            resolved.append(position)
        else:
            raise ValueError(f"attention position {position!r} is not between 0 and "
                             f"{n_resblocks} ResBlocks")
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"attention positions {list(positions)} place two blocks at one spot")
    return sorted(resolved)


def _residual_body(n_resblocks: int, make_block, positions: list[int], n_feats: int,
                   attention: dict[str, Any]) -> nn.Sequential:
    """ResBlocks with pyramid attention after the given block counts, then a 3x3 conv."""
    layers: list[nn.Module] = []
    for count in range(n_resblocks + 1):
        if count:
            layers.append(make_block())
        layers.extend(PyramidAttention(n_feats, **attention)
                      for position in positions if position == count)
    layers.append(conv3x3(n_feats, n_feats))
    return nn.Sequential(*layers)


#: Constructor options of the networks that go to their PyramidAttention blocks (the
#: block's own name where it differs).
ATTENTION_OPTIONS = {"reduction": "reduction", "scales": "scales", "patch_size": "patch_size",
                     "softmax_scale": "softmax_scale", "attention_res_scale": "res_scale",
                     "resample": "resample", "output_divisor": "output_divisor",
                     "key_eps": "key_eps"}


class _ConfiguredModel(nn.Module):
    """Keeps the constructor arguments so that a model can be saved and rebuilt."""

    architecture: str
    config: dict[str, Any]

    def _remember(self, arguments: dict[str, Any]) -> None:
        """Keep every constructor argument (``arguments`` is the constructor's
        ``locals()``), sequences as lists so that the config is plain JSON."""
        names = [name for name in inspect.signature(type(self).__init__).parameters
                 if name != "self"]
        self.config = {name: list(arguments[name]) if isinstance(arguments[name], (tuple, list))
                       else arguments[name] for name in names}

    def _attention_options(self) -> dict[str, Any]:
        return {block_name: self.config[name] for name, block_name in ATTENTION_OPTIONS.items()}

    @property
    def attention_blocks(self) -> list[PyramidAttention]:
        """The pyramid attention modules inside the network."""
        return attention_blocks(self)


class PANet(_ConfiguredModel):
    """ResNet backbone with pyramid attention (Mei et al., Fig. 3); inputs in [0, 1].

    ``head conv -> [ResBlocks, attention, ResBlocks, conv] + skip -> tail conv``. The
    defaults are the paper's colour model: 80 ResBlocks, attention after the 40th.

    Args:
        in_channels: channels of the input image (3 colour, 1 gray).
        out_channels: channels of the output (defaults to ``in_channels``).
        n_feats: feature channels.
        n_resblocks: number of ResBlocks in the body.
        attention_positions: where attention sits: ``"pre"``, ``"mid"``, ``"post"`` or a
            block count; empty for the attention-free ResNet baseline.
        shared_prelu: one PReLU for all ResBlocks, as in the authors' code and checkpoints.
        reduction: passed to :class:`PyramidAttention` (as are the next seven).
        scales: the pyramid's scales.
        patch_size: side of the matched blocks.
        softmax_scale: the softmax's temperature factor.
        attention_res_scale: weight of the attention's residual branch.
        resample: how the pyramid levels are downscaled.
        output_divisor: the attention output's divisor.
        key_eps: the key normalisation's epsilon.
        residual: ``"none"`` (the paper: the network outputs the image), ``"input"`` (it
            outputs a correction added to its input) or ``"bilinear"`` (3-channel mosaic in;
            the network sees a bilinear demosaic and corrects it). Learning a correction
            reaches a given quality in far fewer iterations (see the training guide).

    Example:
        >>> model = PANet(in_channels=1, n_resblocks=2)
        >>> model(torch.rand(1, 1, 12, 12)).shape
        torch.Size([1, 1, 12, 12])
    """

    architecture = "panet"

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, n_feats: int = 64,
                 n_resblocks: int = 80, attention_positions: Sequence[str | int] = ("mid",),
                 shared_prelu: bool = True, reduction: int = 2,
                 scales: Sequence[float] = DEFAULT_SCALES, patch_size: int = 3,
                 softmax_scale: float = 10.0, attention_res_scale: float = 1.0,
                 resample: str = "legacy", output_divisor: float = 4.0,
                 key_eps: float = 1e-4, residual: str = "none") -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if min(in_channels, out_channels, n_feats) < 1 or n_resblocks < 0:
            raise ValueError("channel counts must be positive and n_resblocks non-negative")
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual {residual!r}; use one of {', '.join(RESIDUALS)}")
        if residual != "none" and in_channels != out_channels:
            raise ValueError(f"residual {residual!r} needs as many output channels as inputs")
        if residual == "bilinear" and in_channels != 3:
            raise ValueError("residual 'bilinear' demosaics a 3-channel mosaic")
        scales = [float(s) for s in scales]
        self._remember(locals())
        self.residual = residual
        shared = nn.PReLU(num_parameters=1, init=0.25)
        positions = resolve_positions(attention_positions, n_resblocks)
        self.head = nn.Sequential(conv3x3(in_channels, n_feats))
        self.body = _residual_body(
            n_resblocks, lambda: ResBlock(n_feats, shared if shared_prelu else nn.PReLU(1, 0.25)),
            positions, n_feats, self._attention_options())
        self.tail = nn.Sequential(conv3x3(n_feats, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual == "bilinear":
            x = bilinear_demosaic(x)
        features = self.head(x)
        restored = self.tail(self.body(features) + features)
        return restored if self.residual == "none" else x + restored


class PAEDSR(_ConfiguredModel):
    """EDSR with one pyramid attention in the middle of its body (super-resolution).

    Inputs and outputs are RGB in [0, 1]; the output is ``scale`` times larger.

    Example:
        >>> model = PAEDSR(scale=3, n_feats=16, n_resblocks=2, reduction=4)
        >>> model(torch.rand(1, 3, 8, 10)).shape
        torch.Size([1, 3, 24, 30])
    """

    architecture = "pa_edsr"

    def __init__(self, scale: int = 2, n_feats: int = 256, n_resblocks: int = 32,
                 res_scale: float = 0.1, attention_positions: Sequence[str | int] = ("mid",),
                 reduction: int = 8, scales: Sequence[float] = DEFAULT_SCALES,
                 patch_size: int = 3, softmax_scale: float = 10.0,
                 attention_res_scale: float = 0.1, resample: str = "legacy",
                 output_divisor: float = 4.0, key_eps: float = 1e-4,
                 rgb_mean: Sequence[float] = DIV2K_MEAN) -> None:
        super().__init__()
        if n_feats < 1 or n_resblocks < 0:
            raise ValueError("n_feats must be positive and n_resblocks non-negative")
        scales, rgb_mean = [float(s) for s in scales], [float(m) for m in rgb_mean]
        self._remember(locals())
        self.scale = scale
        positions = resolve_positions(attention_positions, n_resblocks)
        self.sub_mean = MeanShift(rgb_mean, sign=-1)
        self.add_mean = MeanShift(rgb_mean, sign=+1)
        self.head = nn.Sequential(conv3x3(3, n_feats))
        self.body = _residual_body(
            n_resblocks, lambda: ResBlock(n_feats, nn.ReLU(inplace=True), res_scale),
            positions, n_feats, self._attention_options())
        self.tail = nn.Sequential(Upsampler(scale, n_feats), conv3x3(n_feats, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(features) + features))
