"""ONNX files written by ``panet export``: their metadata, and running them with onnxruntime
as a model that :mod:`panet.restore` tiles like any other.

The file's metadata (``metadata_props``) holds the same strings as our safetensors weights
(``task``, ``config``, ``architecture``, ``restore_tile``, ``card`` ...) plus
``format: panet-onnx``, so the loaded model has the same :class:`~panet.models.card.ModelCard`
as the weights it was exported from.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from panet.checkpoints.official import CheckpointError
from panet.files import check_input_file
from panet.models.card import ModelCard

__all__ = ["ONNX_FORMAT", "OnnxModel", "load_onnx_model", "read_onnx_metadata"]

#: The ``format`` metadata value of the ONNX files panet writes.
ONNX_FORMAT = "panet-onnx"


def _runtime():
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("running ONNX files needs onnxruntime: pip install "
                              "'panet[onnx]'") from None
    return onnxruntime


def _open(path: str, threads: int | None = None):
    """``(onnxruntime session, our metadata)``; ``CheckpointError`` for a file that is not
    ONNX, or an ONNX model that is not ours."""
    check_input_file(path, CheckpointError)
    onnxruntime = _runtime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    try:
        session = onnxruntime.InferenceSession(path, options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:   # onnxruntime reports a corrupt file with several types
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise CheckpointError(f"{path}: not a readable ONNX model ({reason})") from None
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if metadata.get("format") != ONNX_FORMAT:
        raise CheckpointError(f"{path}: an ONNX model, but not one panet exported (no "
                              f"'format: {ONNX_FORMAT}' metadata)")
    return session, metadata


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of an ONNX file written by ``panet export`` (``CheckpointError`` for a
    file that is not ONNX, or an ONNX model that is not ours)."""
    return _open(os.fspath(path))[1]


class OnnxModel(nn.Module):
    """An exported network run by onnxruntime (CPU) behind the ``nn.Module`` call that
    :func:`panet.restore.restore_pixels` makes: float32 ``N x C x H x W`` in, restored out.

    It holds no parameters; its card comes from the file's metadata.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.session, self.metadata = _open(self.path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.config = json.loads(self.metadata.get("config", "{}"))
        self.architecture = self.metadata.get("architecture", "onnx")
        self.card = ModelCard.describe(self, self.metadata)
        self.scale = self.card.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)


def load_onnx_model(path: str | os.PathLike) -> OnnxModel:
    """An ONNX file from ``panet export``, ready for :func:`panet.restore.restore_pixels`."""
    return OnnxModel(path).eval()
