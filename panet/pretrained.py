"""Trained weights shipped inside the package (``panet/weights/*.safetensors``).

Each entry names its task; :func:`default_for` picks the one ``panet restore`` and
``panet eval`` use when no ``--model`` is given. Model cards (architecture, training data,
iterations, machine, measured results) live in the files' metadata and in docs/models.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from torch import nn

__all__ = ["PretrainedEntry", "PRETRAINED", "weights_folder", "available", "default_for",
           "load_pretrained", "pretrained_entry"]


@dataclass(frozen=True)
class PretrainedEntry:
    """One shipped weight file."""

    name: str
    task: str          # the family: denoise | demosaic | jpeg | sr (channels tell gray/colour)
    file: str          # inside panet/weights/
    description: str
    scale: int = 1
    channels: int = 3
    #: another entry whose model restores luma; this one's then restores chroma
    #: (:class:`panet.models.composite.LumaChromaJPEG`)
    luma_from: str | None = None


_LIGHT = "PANet-S (64 features, 8 ResBlocks) + light pyramid attention (reduction 4, levels 1, 1/2)"
_SR = "PA-EDSR, EDSR-baseline size (64 features, 16 ResBlocks) + light pyramid attention"

# Colour entries come before gray ones: with no channel count given, colour is the default.
# Cards with training details and measured results: docs/models.md and each file's metadata.
PRETRAINED: list[PretrainedEntry] = [
    PretrainedEntry("denoise-color", "denoise", "denoise-color.safetensors",
                    f"blind colour denoising, sigma 0-75; {_LIGHT}"),
    PretrainedEntry("denoise-gray", "denoise", "denoise-gray.safetensors",
                    f"blind grayscale denoising, sigma 0-75; {_LIGHT}", channels=1),
    PretrainedEntry("demosaic", "demosaic", "demosaic.safetensors",
                    f"demosaicing, trained on RGGB (other patterns are shifted); {_LIGHT}"),
    PretrainedEntry("jpeg-color", "jpeg", "jpeg-color.safetensors",
                    "colour JPEG artifact reduction, blind over quality 10-40; luma by jpeg-y, "
                    f"chroma by its own {_LIGHT}", luma_from="jpeg-y"),
    PretrainedEntry("jpeg-y", "jpeg", "jpeg-y.safetensors",
                    f"JPEG artifact reduction on Y (gray), blind over quality 10-40; {_LIGHT}",
                    channels=1),
    PretrainedEntry("sr-x2", "sr", "sr-x2.safetensors", f"x2 super-resolution; {_SR}", scale=2),
    PretrainedEntry("sr-x3", "sr", "sr-x3.safetensors", f"x3 super-resolution; {_SR}", scale=3),
    PretrainedEntry("sr-x4", "sr", "sr-x4.safetensors", f"x4 super-resolution; {_SR}", scale=4),
]


def weights_folder() -> str:
    """Where the shipped weights live (``$PANET_WEIGHTS`` overrides, for tests)."""
    return os.environ.get("PANET_WEIGHTS") or str(resources.files("panet") / "weights")


def available(entries: list[PretrainedEntry] | None = None) -> list[PretrainedEntry]:
    """The entries whose weight files (their own and their luma model's) are present."""
    folder = weights_folder()
    entries = PRETRAINED if entries is None else entries
    present = {e.name for e in entries if os.path.isfile(os.path.join(folder, e.file))}
    return [e for e in entries if e.name in present and e.luma_from in (None, *present)]


def pretrained_entry(name: str, entries: list[PretrainedEntry] | None = None
                     ) -> PretrainedEntry | None:
    return next((e for e in available(entries) if e.name == name), None)


def default_for(task: str, scale: int | None = None, channels: int | None = None,
                entries: list[PretrainedEntry] | None = None) -> PretrainedEntry | None:
    """The shipped model for ``task`` (and SR ``scale``, and ``channels`` where both a
    colour and a gray model exist), or ``None``."""
    # same-size models have scale 1; upscaling ones must match (x2 when none is asked)
    matches = [e for e in available(entries) if e.task == task and
               e.scale in (1, scale or 2)]
    if channels is not None and any(e.channels == channels for e in matches):
        matches = [e for e in matches if e.channels == channels]
    return matches[0] if matches else None


def load_pretrained(entry: PretrainedEntry) -> nn.Module:
    """The shipped model of ``entry``, its card naming it."""
    from dataclasses import replace

    from panet.checkpoints import load_model
    from panet.models.card import model_card

    model = load_model(os.path.join(weights_folder(), entry.file)).eval()
    if entry.luma_from is not None:
        from panet.models.composite import LumaChromaJPEG

        luma = next(e for e in PRETRAINED if e.name == entry.luma_from)
        model = LumaChromaJPEG(model, load_pretrained(luma)).eval()
    model.card = replace(model_card(model), shipped_name=entry.name)
    model.shipped_name = entry.name
    return model
