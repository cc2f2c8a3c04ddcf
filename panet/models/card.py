"""What a model is and how it was trained, parsed once: its card.

Loaders attach a :class:`ModelCard` to the model they build (``model.card``); everything
that needs a fact about a model (its input channels, its upscaling factor, the Bayer
pattern or task it was trained for, the tile it restores best in, the shipped name)
reads it through :func:`model_card` instead of guessing from attributes.

>>> from panet.models import create_model
>>> card = model_card(create_model("pa-edsr-x3", n_resblocks=1))
>>> card.architecture, card.in_channels, card.scale, card.family
('pa_edsr', 3, 3, None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = ["ModelCard", "model_card"]


@dataclass(frozen=True)
class ModelCard:
    """The facts about one model.

    Attributes:
        architecture: ``panet`` or ``pa_edsr`` (the class's name for others).
        in_channels: channels of the images it takes (1 gray/Y, 3 colour).
        scale: upscaling factor (1 for same-size restoration).
        family: what it was trained to do (``denoise``, ``demosaic``, ``jpeg``, ``sr``), from
            its training configuration; ``None`` when unknown (random or foreign weights).
        levels: the training levels: sigma or JPEG quality (a number, or a ``[low, high]``
            range or a list for blind models), the Bayer pattern, or the SR scale.
        pattern: the Bayer pattern a demosaicing model was trained on.
        gray_y: a JPEG model trained on the Y channel only.
        restore_tile: the tile it restores in by default (its training crop, or a smaller
            one chosen on validation photos).
        restore_overlap: the overlap of neighbouring tiles it restores with by default, at
            ``restore_tile`` (more overlap averages more shifted predictions: better, slower).
        shipped_name: the name of the shipped weights it was loaded from, if any.
        provenance: the rest of its file's metadata (card JSON, stages, conversion source).
    """

    architecture: str
    in_channels: int = 3
    scale: int = 1
    family: str | None = None
    levels: Any = None
    pattern: str | None = None
    gray_y: bool | None = None
    restore_tile: int | None = None
    restore_overlap: int | None = None
    shipped_name: str | None = None
    provenance: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def describe(cls, model: nn.Module, metadata: Mapping[str, str] | None = None
                 ) -> "ModelCard":
        """Read the card of ``model`` from its configuration and ``metadata`` (a weight
        file's string metadata; the model's own ``metadata`` attribute by default)."""
        config = dict(getattr(model, "config", None) or {})
        if metadata is None:
            metadata = getattr(model, "metadata", None) or {}
        in_channels = config.get("in_channels")
        if in_channels is None:
            head = getattr(model, "head", None)
            in_channels = head[0].in_channels if isinstance(head, nn.Sequential) else 3
        try:
            task = json.loads(metadata.get("task", "") or "{}")
        except ValueError:
            task = {}
        if not isinstance(task, dict):
            task = {}
        family = task.get("type")
        levels = {"denoise": task.get("sigma"), "jpeg": task.get("quality"),
                  "demosaic": task.get("pattern"), "sr": task.get("scale")}.get(family)
        tile = str(metadata.get("restore_tile", ""))
        tile = int(tile) if tile.isdigit() and int(tile) > 0 else None
        overlap = str(metadata.get("restore_overlap", ""))
        # an overlap means something only below its tile (at or above it, tiles would
        # never advance): otherwise it is ignored, as a malformed tile is
        overlap = int(overlap) if tile and overlap.isdigit() and int(overlap) < tile else None
        return cls(
            architecture=getattr(model, "architecture", type(model).__name__),
            in_channels=int(in_channels),
            scale=int(config.get("scale", getattr(model, "scale", 1))),
            family=family,
            levels=levels,
            pattern=str(task.get("pattern", "RGGB")).upper() if family == "demosaic" else None,
            gray_y=bool(task.get("gray_y")) if family == "jpeg" else None,
            restore_tile=tile,
            restore_overlap=overlap,
            provenance={k: v for k, v in metadata.items()
                        if k not in ("task", "restore_tile", "restore_overlap")
                        and "." not in k})


def model_card(model: nn.Module) -> ModelCard:
    """The card a loader attached to ``model``, or one read from its configuration."""
    card = getattr(model, "card", None)
    return card if isinstance(card, ModelCard) else ModelCard.describe(model)
