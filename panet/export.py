"""Export a network to ONNX: any image size, the model's card in the file's metadata.

The exporter is PyTorch's own (``torch.onnx.export(..., dynamo=True)``, opset 18, with the
``onnx``/``onnxscript`` packages of the ``[onnx]`` extra). Height and width (and the batch)
are dynamic axes. The pyramid attention is exported block by block, as an ONNX ``Scan`` over
query blocks (see :meth:`panet.attention.PyramidAttention._forward_for_export`): the same
function as the blockwise kernel in bounded memory, checked in ``tests/test_export.py``
against PyTorch with onnxruntime and OpenCV's dnn.
Use: ``export_onnx(panet.load_model("weights.safetensors"), "model.onnx")``, then
``panet.checkpoints.onnx_file.load_onnx_model("model.onnx")`` or onnxruntime directly.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import torch
from torch import nn

from panet.checkpoints.onnx_file import MIN_SIDE, ONNX_FORMAT
from panet.files import atomic_output
from panet.models.card import model_card

__all__ = ["export_onnx", "onnx_metadata", "OPSET"]

#: The ONNX opset of the exported files.
OPSET = 18
#: The licence of panet and of the weights it ships (pyproject.toml).
LICENCE = "MIT"


def onnx_metadata(model: nn.Module, command: str | None = None) -> dict[str, str]:
    """The strings written into the file: the weights' own metadata (task, configuration,
    architecture, restore tile, card), the card's main facts spelled out, and ours."""
    card = model_card(model)
    metadata = {k: str(v) for k, v in (getattr(model, "metadata", None) or {}).items()}
    config = getattr(model, "config", None)
    if config is not None:
        metadata.setdefault("config", json.dumps(config))
    if card.restore_tile:
        metadata.setdefault("restore_tile", str(card.restore_tile))
    metadata.update({
        "format": ONNX_FORMAT, "architecture": card.architecture,
        "in_channels": str(card.in_channels), "scale": str(card.scale),
        "family": card.family or "", "levels": json.dumps(card.levels),
        "pattern": card.pattern or "", "shipped_name": card.shipped_name or "",
        "licence": LICENCE, "command": command or "",
        "input": f"float32 N x C x H x W in [0, 1], any H and W from {MIN_SIDE}",
        # the contract of the graph, for whoever runs it outside panet
        "attention": ("exact, in blocks of queries (an ONNX Scan): memory grows with the "
                      "pixel count, not its square; the output equals the PyTorch model's "
                      "on the same whole image (float32 rounding)"),
    })
    return metadata


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs each optional operator library it skips and warns about its own
    internals; none of that concerns the user."""
    import logging
    import warnings

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: nn.Module, path: str | os.PathLike, command: str | None = None,
                example_size: int = 40) -> None:
    """Write ``model`` (float32, eval mode) to ``path`` as ONNX with dynamic batch, height and
    width; atomically (no half-written file on failure)."""
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting needs the onnx extra: pip install 'panet[onnx]'") from None
    model = model.float().eval()
    channels = model_card(model).in_channels
    # a batch of 2: an example batch of 1 would fix the batch size in the graph
    example = torch.rand(2, channels, example_size, example_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height = torch.export.Dim("height", min=MIN_SIDE, max=16384)
    width = torch.export.Dim("width", min=MIN_SIDE, max=16384)
    # no_grad: the traced scan over attention blocks would otherwise be traced for autograd
    with atomic_output(path, suffix=".onnx") as partial, _quiet_exporter(), torch.no_grad():
        with contextlib.redirect_stdout(io.StringIO()):   # the exporter narrates each pass
            program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET,
                                        input_names=["image"], output_names=["restored"],
                                        dynamic_shapes=({0: batch, 2: height, 3: width},),
                                        verbose=False)
        proto = program.model_proto
        for key, value in onnx_metadata(model, command).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save_model(proto, partial)
