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
    task: str          # denoise | demosaic | jpeg | jpeg-color | sr
    file: str          # inside panet/weights/
    description: str
    scale: int = 1
    channels: int = 3


# Filled in as models are trained (issue 6); an entry whose file is absent is ignored.
PRETRAINED: list[PretrainedEntry] = []


def weights_folder() -> str:
    """Where the shipped weights live (``$PANET_WEIGHTS`` overrides, for tests)."""
    return os.environ.get("PANET_WEIGHTS") or str(resources.files("panet") / "weights")


def available(entries: list[PretrainedEntry] | None = None) -> list[PretrainedEntry]:
    """The entries whose weight file is present."""
    folder = weights_folder()
    return [e for e in (PRETRAINED if entries is None else entries)
            if os.path.isfile(os.path.join(folder, e.file))]


def pretrained_entry(name: str, entries: list[PretrainedEntry] | None = None
                     ) -> PretrainedEntry | None:
    return next((e for e in available(entries) if e.name == name), None)


def default_for(task: str, scale: int | None = None, channels: int | None = None,
                entries: list[PretrainedEntry] | None = None) -> PretrainedEntry | None:
    """The shipped model for ``task`` (and SR ``scale``, and ``channels`` where both a
    colour and a gray model exist), or ``None``."""
    matches = [e for e in available(entries) if e.task == task and
               (task != "sr" or e.scale == (scale or 2))]
    if channels is not None and any(e.channels == channels for e in matches):
        matches = [e for e in matches if e.channels == channels]
    return matches[0] if matches else None


def load_pretrained(entry: PretrainedEntry) -> nn.Module:
    from panet.checkpoints import load_model

    return load_model(os.path.join(weights_folder(), entry.file)).eval()
