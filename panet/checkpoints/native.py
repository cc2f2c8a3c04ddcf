"""Our own weight format: safetensors with the model's configuration in its metadata.

A file holds every tensor once (shared tensors, such as PANet's common PReLU slope, are
stored under one name) and the metadata keys ``format``, ``format_version``,
``architecture`` and ``config`` (JSON of the constructor arguments), plus any string
metadata the caller adds (training data, measured results, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import safetensors
import safetensors.torch
from torch import nn

from panet.checkpoints.official import CheckpointError
from panet.files import atomic_output, check_input_file
from panet.models.card import ModelCard
from panet.models.registry import build_architecture

__all__ = ["save_model", "load_model", "read_metadata", "FORMAT_NAME"]

FORMAT_NAME = "panet-weights"
FORMAT_VERSION = "1"
_RESERVED = ("format", "format_version", "architecture", "config")


def save_model(model: nn.Module, path: str | os.PathLike,
               metadata: Mapping[str, str] | None = None) -> None:
    """Write ``model`` (a PANet or PA-EDSR) to ``path`` atomically.

    >>> import tempfile, os, torch
    >>> from panet import create_model
    >>> model = create_model("panet-s", n_resblocks=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.safetensors")
    >>> save_model(model, path, {"note": "random weights"})
    >>> read_metadata(path)["note"]
    'random weights'
    """
    architecture = getattr(model, "architecture", None)
    config = getattr(model, "config", None)
    if architecture is None or config is None:
        raise TypeError(f"{type(model).__name__} is not a panet model (no architecture/config)")
    extra = dict(metadata or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"metadata keys {clash} are reserved")
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in extra.items()):
        raise TypeError("metadata keys and values must be strings")
    extra.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, architecture=architecture,
                 config=json.dumps(config, sort_keys=True))
    with atomic_output(path, suffix=".safetensors") as temporary:
        safetensors.torch.save_model(model, temporary, metadata=extra)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of one of our weight files, checked for our format."""
    path = os.fspath(path)
    check_input_file(path, CheckpointError)
    try:
        with safetensors.safe_open(path, framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own error types for bad headers
        hint = " (an authors' .pt checkpoint? convert it with 'panet convert')" \
            if path.endswith((".pt", ".pth")) else ""
        raise CheckpointError(f"{path}: not a safetensors file{hint}: "
                              f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
                              ) from None
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: a safetensors file, but not panet weights "
                              "(no 'format: panet-weights' metadata)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: panet weights format version "
                              f"{metadata.get('format_version')!r} is not supported")
    return metadata


def load_model(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild and load a model written by :func:`save_model`; eval mode.

    Raises :class:`CheckpointError` with a one-line reason for unusable files.
    """
    metadata = read_metadata(path)
    try:
        config: dict[str, Any] = json.loads(metadata["config"])
        model = build_architecture(metadata["architecture"], config)
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{os.fspath(path)}: bad model description in metadata: "
                              f"{error}") from None
    try:
        safetensors.torch.load_model(model, os.fspath(path), strict=True, device=device)
    except Exception as error:  # missing/unexpected keys or shape mismatches
        first = str(error).strip().splitlines()
        raise CheckpointError(f"{os.fspath(path)}: weights do not fit the described "
                              f"{metadata['architecture']}: {first[0] if first else error}"
                              ) from None
    # what the file says about how the model was trained (task, levels, results)
    model.metadata = {k: v for k, v in metadata.items() if k not in _RESERVED}
    model.card = ModelCard.describe(model, model.metadata)
    return model.to(device).eval()
