"""What the commands share: the one-line error type and small argument helpers."""

from __future__ import annotations

import os
import resource

__all__ = ["CommandError", "check_output", "precision_dtype", "resolve_model", "threads",
           "peak_memory_mib", "file_slug", "finite_float"]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def threads() -> int:
    import torch

    return torch.get_num_threads()


def check_output(source: str | None, output: str, overwrite: bool) -> None:
    """Refuse to overwrite the input, or an existing file without ``--overwrite``."""
    if source is not None and os.path.abspath(source) == os.path.abspath(output):
        raise CommandError("the output would overwrite the input; choose another file")
    if os.path.exists(output) and not overwrite:
        raise CommandError(f"{output} exists; pass --overwrite to replace it")


def precision_dtype(name: str, device: str = "cpu"):
    """``--precision`` as the autocast dtype (``None`` for float32) on ``device``."""
    from panet.hardware import autocast_dtype

    try:
        return autocast_dtype(name, device)
    except ValueError as error:
        raise CommandError(f"--{error}") from None


def file_slug(label: str) -> str:
    """A level label as it may appear in a file name (σ50 -> sigma50, ×2 -> x2)."""
    return label.replace("σ", "sigma").replace("×", "x")


def resolve_model(spec: str | None, task: str, scale: int | None,
                  channels: int | None = None):
    """:func:`panet.pretrained.resolve_model`, with unknown names as a one-line error."""
    from panet.pretrained import resolve_model as resolve

    try:
        return resolve(spec, task, scale, channels)
    except ValueError as error:
        raise CommandError(str(error)) from None


def finite_float(text: str) -> float:
    """An ``argparse`` type: a finite number (``nan`` and ``inf`` make no sense as sigmas,
    factors or memory budgets)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
