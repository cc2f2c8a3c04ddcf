"""A colour JPEG restorer built from two networks: one for luma, one for the rest.

A colour JPEG stores luma and chroma apart: luma at full resolution with its own table,
chroma halved and coarser. Luma is exactly the grey JPEG problem, so a network trained on
Y alone (the paper's CAR setting) can restore it, while the colour network restores chroma.
Adding the same amount to R, G and B changes JPEG's luma by that amount and leaves its Cb
and Cr alone, which is how the two results are joined.

>>> import torch
>>> from panet.models import create_model
>>> colour = create_model("panet-s", n_feats=8, n_resblocks=1)
>>> luma = create_model("panet-s", in_channels=1, n_feats=8, n_resblocks=1)
>>> model = LumaChromaJPEG(colour, luma).eval()
>>> x = torch.rand(1, 3, 16, 16)
>>> with torch.no_grad():
...     out, chroma, y = model(x), colour(x), luma(studio_luma(x))
>>> bool(torch.allclose(studio_luma(out), y, atol=1e-5))     # luma from the luma network
True
>>> cb = torch.tensor([-0.168736, -0.331264, 0.5]).view(1, 3, 1, 1)
>>> bool(torch.allclose((out * cb).sum(1), (chroma * cb).sum(1), atol=1e-5))   # Cb kept
True
>>> grey = x[:, :1].expand(1, 3, 16, 16)           # a grey picture in three channels
>>> with torch.no_grad():
...     out = model(grey)
>>> bool((out == out[:, :1]).all())                 # no colour made up
True
"""

from __future__ import annotations

import torch
from torch import nn

from panet.models.card import model_card

__all__ = ["LumaChromaJPEG", "studio_luma", "JFIF_LUMA"]

#: JPEG's (JFIF) luma mix of R, G, B; its weights sum to 1.
JFIF_LUMA = (0.299, 0.587, 0.114)
#: Matlab's BT.601 Y, on which the paper's (and our) Y-channel JPEG models are trained, is
#: 16/255 + (219/255) * JFIF luma in [0, 1].
_STUDIO_OFFSET, _STUDIO_SCALE = 16.0 / 255.0, 219.0 / 255.0
#: Largest difference between R, G and B (in [0, 1]) that still counts as grey.
_GREY_SPREAD = 0.5 / 255.0


def _jfif_luma(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(JFIF_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def studio_luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 Y (16-235 on the 0-255 scale, divided by 255) of an ``N x 3 x H x W`` batch."""
    return _STUDIO_OFFSET + _STUDIO_SCALE * _jfif_luma(x)


class LumaChromaJPEG(nn.Module):
    """Colour JPEG restoration: ``colour`` (RGB in and out) restores the image, ``luma``
    (a Y-channel JPEG model) replaces its luma. A grey input gives a grey output (the luma
    network's alone). Its card and metadata are the colour network's;
    ``metadata["luma_model"]`` names the luma network."""

    architecture = "luma_chroma_jpeg"

    def __init__(self, colour: nn.Module, luma: nn.Module) -> None:
        super().__init__()
        colour_card, luma_card = model_card(colour), model_card(luma)
        if colour_card.in_channels != 3 or luma_card.in_channels != 1:
            raise ValueError("LumaChromaJPEG needs a 3-channel colour model and a 1-channel "
                             f"luma model, got {colour_card.in_channels} and "
                             f"{luma_card.in_channels}")
        if colour_card.scale != 1 or luma_card.scale != 1:
            raise ValueError("LumaChromaJPEG needs two same-size models")
        self.colour, self.luma = colour, luma
        self.card = colour_card
        # what exporters write: the colour network's file metadata, and where luma comes from
        self.metadata = {**(getattr(colour, "metadata", None) or {}),
                         "luma_model": luma_card.shipped_name or luma_card.architecture}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.join(self.colour(x), x)

    def join(self, restored: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The pair's output from the colour network's output ``restored`` for the input
        ``x``: its chroma, and the luma network's luma of ``x``. Training the colour network
        through this (``model.luma_from``) spends it on the chroma that ships."""
        luma = (self.luma(studio_luma(x)) - _STUDIO_OFFSET) / _STUDIO_SCALE
        chroma = restored - _jfif_luma(restored)   # R, G, B minus their luma
        # A grey input (R = G = B to half a level in every pixel; a grey picture saved as a
        # colour JPEG decodes so) stays grey: its file holds no colour to restore, and any
        # the colour network made up would be false. Decided per call (per tile), without a
        # Python branch so that exports keep both paths.
        spread = (x.amax(dim=1, keepdim=True) - x.amin(dim=1, keepdim=True)).amax(
            dim=(2, 3), keepdim=True)
        coloured = (spread > _GREY_SPREAD).to(x.dtype)
        return luma + coloured * chroma
