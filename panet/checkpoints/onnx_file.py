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

__all__ = ["MIN_SIDE", "ONNX_FORMAT", "OnnxModel", "load_onnx_model", "read_onnx_metadata"]

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


#: The side of the image :func:`_check_graph` runs through a file once, at load time.
PROBE_SIDE = 16

#: The smallest height and width the exported graphs are made for (``panet export``'s
#: dynamic-shape bound): below it a pyramid level would shrink to nothing, which PyTorch
#: leaves out but a fixed graph cannot, so :class:`OnnxModel` pads such slivers.
MIN_SIDE = 8


def _check_graph(path: str, session, card: ModelCard, out_channels: int) -> str:
    """The input's name, once the graph is seen to do what its metadata says: one float
    ``N x C x H x W`` image of any size in, one ``N x C' x sH x sW`` image out, with the
    metadata's channels and scale (checked on the graph's declared shapes, then on one
    small probe image). ``CheckpointError`` otherwise: a file whose metadata lies would
    restore photos into nonsense, or fail on the first tile with onnxruntime's message."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shapes = ", ".join(f"{x.name} {list(x.shape)}" for x in inputs) or "nothing"
    if (len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4
            or len(outputs[0].shape) != 4 or inputs[0].type != "tensor(float)"):
        raise CheckpointError(f"{path}: not an image-to-image graph (it takes {shapes}; "
                              "panet's files take one float N x C x H x W image)")
    declared = inputs[0].shape
    if isinstance(declared[1], int) and declared[1] != card.in_channels:
        raise CheckpointError(f"{path}: its metadata says {card.in_channels} input channels "
                              f"but the graph takes {declared[1]}")
    if any(isinstance(side, int) for side in declared[2:]):
        raise CheckpointError(f"{path}: the graph takes only {declared[2]} x {declared[3]} "
                              "images; panet's files take any size")
    probe = np.zeros((1, card.in_channels, PROBE_SIDE, PROBE_SIDE), np.float32)
    try:
        got = session.run(None, {inputs[0].name: probe})[0].shape
    except Exception as error:   # onnxruntime raises several types for a bad graph
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise CheckpointError(f"{path}: the graph fails on a {PROBE_SIDE} x {PROBE_SIDE} "
                              f"image with its metadata's {card.in_channels} channels "
                              f"({reason})") from None
    want = (1, out_channels, PROBE_SIDE * card.scale, PROBE_SIDE * card.scale)
    if tuple(got) != want:
        raise CheckpointError(f"{path}: its metadata promises {want[1]} channels at scale "
                              f"{card.scale}, but the graph turns 1 x {card.in_channels} x "
                              f"{PROBE_SIDE} x {PROBE_SIDE} into {' x '.join(map(str, got))}")
    return inputs[0].name


class OnnxModel(nn.Module):
    """An exported network run by onnxruntime (CPU) behind the ``nn.Module`` call that
    :func:`panet.restore.restore_pixels` makes: float32 ``N x C x H x W`` in, restored out.

    It holds no parameters; its card comes from the file's metadata.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.session, self.metadata = _open(self.path, threads)
        try:
            self.config = json.loads(self.metadata.get("config", "{}"))
            if not isinstance(self.config, dict):
                raise ValueError("not a mapping")
            self.architecture = self.metadata.get("architecture", "onnx")
            self.card = ModelCard.describe(self, self.metadata)
            out_channels = int(self.config.get("out_channels") or self.card.in_channels)
        except (ValueError, TypeError) as error:
            raise CheckpointError(f"{self.path}: unreadable panet metadata ({error})") from None
        if not (1 <= self.card.in_channels <= 16 and 1 <= out_channels <= 16
                and 1 <= self.card.scale <= 16):
            raise CheckpointError(f"{self.path}: implausible metadata ({self.card.in_channels}"
                                  f" channels in, {out_channels} out, scale "
                                  f"{self.card.scale})")
        self.scale = self.card.scale
        self.input_name = _check_graph(self.path, self.session, self.card, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).numpy()
        height, width = array.shape[-2:]
        # slivers (a 1 x N image) are edge-padded up to the graph's smallest size, then cut
        grow = ((0, 0), (0, 0), (0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width)))
        array = np.ascontiguousarray(np.pad(array, grow, mode="edge"))
        out = self.session.run(None, {self.input_name: array})[0]
        out = out[..., :height * self.scale, :width * self.scale]
        return torch.from_numpy(np.ascontiguousarray(out)).to(x.device)


def load_onnx_model(path: str | os.PathLike) -> OnnxModel:
    """An ONNX file from ``panet export``, ready for :func:`panet.restore.restore_pixels`."""
    return OnnxModel(path).eval()
