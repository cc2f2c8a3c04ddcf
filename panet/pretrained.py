"""The shipped models: one table that tags trained weights onto registered architectures.

Each :class:`PretrainedEntry` names a model of :mod:`panet.models.registry` (the network
the file holds), the task it restores (:data:`panet.tasks.TASKS`) and its file in
``panet/weights/``. :func:`load_pretrained` gives the model with its card,
:func:`default_for` the one ``panet restore`` uses for a task, and :func:`resolve_model`
turns whatever a user names (a shipped name, a registered architecture, a weights file)
into a model. Cards with training details and measured results are in each file's metadata
and in docs/models.md.

>>> [entry.name for entry in PRETRAINED][:3]
['denoise-color', 'denoise-gray', 'demosaic']
>>> entry = pretrained_entry("sr-x3")
>>> entry.model, entry.family, entry.scale, entry.channels
('pa-edsr-light-x3', 'sr', 3, 3)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from importlib import resources

from torch import nn

from panet.models.card import ModelCard, model_card
from panet.models.registry import model_entry
from panet.tasks import get_task

__all__ = ["PretrainedEntry", "PRETRAINED", "weights_folder", "available", "default_for",
           "load_pretrained", "list_pretrained", "pretrained_entry", "resolve_model",
           "shipped_scales"]


@dataclass(frozen=True)
class PretrainedEntry:
    """One shipped weight file: a registered model trained for a task."""

    name: str
    model: str         # the registered model (panet.models.registry) the file holds
    task: str          # the task it restores (its family and channels follow)
    file: str          # inside panet/weights/
    description: str
    #: another entry whose model restores luma; this one's then restores chroma
    #: (:class:`panet.models.composite.LumaChromaJPEG`)
    luma_from: str | None = None

    @property
    def family(self) -> str:
        """What the network does: ``denoise``, ``demosaic``, ``jpeg`` or ``sr``."""
        return get_task(self.task).family

    @property
    def channels(self) -> int:
        """Channels of the images it restores (1: gray or Y)."""
        return 3 if self.luma_from else get_task(self.task).model_channels

    @property
    def scale(self) -> int:
        """Its upscaling factor (1 for same-size restoration)."""
        return int(model_entry(self.model).defaults.get("scale", 1))


_LIGHT = "PANet-S (64 features, 8 ResBlocks) + light pyramid attention (reduction 4, levels 1, 1/2)"
_SR = "PA-EDSR, EDSR-baseline size (64 features, 16 ResBlocks) + light pyramid attention"

# Colour entries come before gray ones: with no channel count given, colour is the default.
PRETRAINED: list[PretrainedEntry] = [
    PretrainedEntry("denoise-color", "panet-s-light", "denoise", "denoise-color.safetensors",
                    f"blind colour denoising, sigma 0-75; {_LIGHT}"),
    PretrainedEntry("denoise-gray", "panet-s-light", "denoise-gray", "denoise-gray.safetensors",
                    f"blind grayscale denoising, sigma 0-75; {_LIGHT}"),
    PretrainedEntry("demosaic", "panet-s-light", "demosaic", "demosaic.safetensors",
                    f"demosaicing, trained on RGGB (other patterns are shifted); {_LIGHT}"),
    PretrainedEntry("jpeg-color", "panet-s-light", "jpeg-color", "jpeg-color.safetensors",
                    "colour JPEG artifact reduction, blind over quality 10-40; luma by jpeg-y, "
                    f"chroma by its own {_LIGHT}", luma_from="jpeg-y"),
    PretrainedEntry("jpeg-y", "panet-s-light", "jpeg", "jpeg-y.safetensors",
                    f"JPEG artifact reduction on Y (gray), blind over quality 10-40; {_LIGHT}"),
    *[PretrainedEntry(f"sr-x{s}", f"pa-edsr-light-x{s}", "sr", f"sr-x{s}.safetensors",
                      f"x{s} super-resolution; {_SR}") for s in (2, 3, 4)],
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
    """The available entry called ``name``, or ``None``."""
    return next((e for e in available(entries) if e.name == name), None)


def default_for(family: str, scale: int | None = None, channels: int | None = None,
                entries: list[PretrainedEntry] | None = None) -> PretrainedEntry | None:
    """The shipped model for ``family`` (and SR ``scale``, and ``channels`` where both a
    colour and a gray model exist), or ``None``."""
    # same-size models have scale 1; upscaling ones must match (x2 when none is asked)
    matches = [e for e in available(entries) if e.family == family and
               e.scale in (1, scale or 2)]
    if channels is not None and any(e.channels == channels for e in matches):
        matches = [e for e in matches if e.channels == channels]
    return matches[0] if matches else None


def shipped_scales(family: str) -> list[int]:
    """The upscaling factors the shipped models of ``family`` have (empty: none upscales).

    >>> shipped_scales("sr"), shipped_scales("denoise")
    ([2, 3, 4], [])
    """
    return sorted({e.scale for e in available() if e.family == family and e.scale > 1})


def load_pretrained(name: str | PretrainedEntry) -> nn.Module:
    """The shipped model called ``name`` in eval mode, its card at ``model.card``.

    >>> model = load_pretrained("denoise-gray")
    >>> model.card.shipped_name, model.card.in_channels, model.card.family
    ('denoise-gray', 1, 'denoise')
    """
    from panet.checkpoints import load_model

    entry = name if isinstance(name, PretrainedEntry) else pretrained_entry(name)
    if entry is None:
        raise ValueError(f"no shipped model {name!r}; shipped: "
                         f"{', '.join(e.name for e in available()) or 'none'}")
    model = load_model(os.path.join(weights_folder(), entry.file)).eval()
    if entry.luma_from is not None:
        from panet.models.composite import LumaChromaJPEG

        luma = next(e for e in PRETRAINED if e.name == entry.luma_from)
        model = LumaChromaJPEG(model, load_pretrained(luma)).eval()
    model.card = replace(model_card(model), shipped_name=entry.name)
    return model


def list_pretrained() -> dict[str, ModelCard]:
    """The shipped models present, each with its card (loaded from its file).

    >>> cards = list_pretrained()
    >>> cards["sr-x4"].scale, cards["demosaic"].pattern
    (4, 'RGGB')
    """
    return {entry.name: load_pretrained(entry).card for entry in available()}


def resolve_model(spec: str | None, family: str, scale: int | None = None,
                  channels: int | None = None) -> tuple[nn.Module, bool]:
    """``(model in eval mode, has_random_weights)`` for a shipped model's name, a registered
    architecture name, a panet ``.safetensors`` file, a ``panet train`` checkpoint, an
    authors' ``.pt`` checkpoint or an exported ``.onnx`` file.

    ``None`` takes the family's shipped model for images of ``channels`` channels (a gray
    denoiser for gray images; the colour JPEG model for colour images), else the task's
    default architecture. ``ValueError`` (one line, listing the known names) for an
    unknown name."""
    from panet.checkpoints import load_weights_file
    from panet.models import create_model, list_models
    from panet.tasks import for_images

    if spec is None:
        shipped = default_for(family, scale, channels)
        if shipped is not None:
            return load_pretrained(shipped), False
        spec = for_images(family, channels or 3).default_architecture.format(scale=scale or 2)
    if pretrained_entry(spec) is not None:
        return load_pretrained(pretrained_entry(spec)), False
    if os.path.isfile(spec):
        return load_weights_file(spec).eval(), False
    if spec not in list_models():
        raise ValueError(f"unknown model {spec!r} (not a file either); shipped: "
                         f"{', '.join(e.name for e in available())}; architectures: "
                         f"{', '.join(list_models())}")
    return create_model(spec).eval(), True
