"""``panet train``'s own checkpoints (``checkpoints/iter-*.pt``), read as models, and the one
function that opens any weights file by what it holds."""

from __future__ import annotations

import json
import os

from torch import nn

from panet.checkpoints.native import load_model
from panet.checkpoints.official import (CheckpointError, load_official_checkpoint,
                                        torch_load_safely)
from panet.models.card import ModelCard
from panet.models.registry import create_model

__all__ = ["is_training_checkpoint", "load_training_checkpoint", "load_weights_file"]


def is_training_checkpoint(path: str | os.PathLike) -> bool:
    """Whether a ``.pt`` file is one of ``panet train``'s checkpoints (not authors' weights)."""
    try:
        state = torch_load_safely(path)
    except CheckpointError:   # unreadable files are reported by the loader that follows
        return False
    return isinstance(state, dict) and {"model", "config", "iteration"} <= set(state)


def load_training_checkpoint(path: str | os.PathLike) -> nn.Module:
    """The network of a training checkpoint (read with ``weights_only=True``), its card
    taken from the run's configuration; ``ValueError`` for anything else. A run with
    ``train.ema`` gives its averaged weights, which it validates and exports."""
    state = torch_load_safely(path)
    try:
        model = create_model(state["config"]["model"]["name"],
                             **state["config"]["model"]["options"])
        weights = state["model"]
        if "average" in state:   # torch's AveragedModel: the network's keys under "module."
            weights = {key[len("module."):]: value for key, value in state["average"].items()
                       if key.startswith("module.")}
        model.load_state_dict(weights)
        model.metadata = {"task": json.dumps(state["config"].get("task", {})),
                          "iterations": str(state.get("iteration", ""))}
        model.card = ModelCard.describe(model, model.metadata)
    except (KeyError, TypeError, RuntimeError, OSError) as error:
        raise ValueError(f"{os.fspath(path)} is not a panet training checkpoint "
                         f"({str(error).splitlines()[0]})") from None
    return model.eval()


def load_weights_file(path: str | os.PathLike) -> nn.Module:
    """A model from any weights file this project reads: our ``.safetensors``, a ``panet
    train`` checkpoint or an authors' ``.pt`` checkpoint (told apart by content), or an
    ONNX file from ``panet export`` (run by onnxruntime)."""
    path = os.fspath(path)
    if path.endswith(".onnx"):
        from panet.checkpoints.onnx_file import load_onnx_model

        return load_onnx_model(path)
    if path.endswith((".pt", ".pth")):
        if is_training_checkpoint(path):
            return load_training_checkpoint(path)
        return load_official_checkpoint(path).eval()
    return load_model(path)
