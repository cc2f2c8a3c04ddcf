"""Start a network from a trained one of the same family: the cheap way to train attention
on a CPU is to train the convolutional backbone alone first, then insert the attention.

Layers are matched in order, attention blocks aside. Attention blocks the source lacks get
a zeroed value projection: they add nothing until trained, so with PANet's residual weight
of 1 the warm-started network computes exactly what the source computed (PA-EDSR's 0.1
residual weight makes them scale their input instead).
"""

from __future__ import annotations

import torch
from torch import nn

from panet.attention import PyramidAttention
from panet.checkpoints.training import is_training_checkpoint

__all__ = ["warm_start", "load_source", "is_training_checkpoint"]


def load_source(path: str) -> nn.Module:
    """A trained network from our weights (``.safetensors``) or from one of ``panet
    train``'s checkpoints (``checkpoints/*.pt``), so a long run can seed the next stage
    without being finished."""
    from panet.checkpoints import load_model, load_training_checkpoint

    return load_training_checkpoint(path) if path.endswith(".pt") else load_model(path)


def _units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level layers in order, Sequential containers expanded one level."""
    units = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            units.extend((f"{name}.{sub}", m) for sub, m in child.named_children())
        else:
            units.append((name, child))
    return units


@torch.no_grad()
def warm_start(model: nn.Module, source: nn.Module) -> list[str]:
    """Copy ``source``'s weights into ``model``; returns the layers that start fresh.

    >>> from panet.models import create_model
    >>> backbone = create_model("panet-s", n_resblocks=2, n_feats=8, attention_positions=[])
    >>> full = create_model("panet-s", n_resblocks=2, n_feats=8)
    >>> warm_start(full, backbone)
    ['body.1 (attention, value projection zeroed)']
    >>> x = torch.rand(1, 3, 12, 12)
    >>> torch.allclose(full(x), backbone(x), atol=1e-6)
    True
    """
    target = [(n, m) for n, m in _units(model) if not isinstance(m, PyramidAttention)]
    origin = [(n, m) for n, m in _units(source) if not isinstance(m, PyramidAttention)]
    if len(target) != len(origin):
        raise ValueError(f"the networks differ in depth ({len(origin)} layers besides "
                         f"attention in the source, {len(target)} here)")
    for (name, layer), (source_name, source_layer) in zip(target, origin):
        wanted, given = layer.state_dict(), source_layer.state_dict()
        shapes = {k: tuple(v.shape) for k, v in wanted.items()}
        if shapes != {k: tuple(v.shape) for k, v in given.items()}:
            raise ValueError(f"layer {name} does not match the source's {source_name} "
                             "(different kind or size)")
        layer.load_state_dict(given)
    attention = [(n, m) for n, m in _units(model) if isinstance(m, PyramidAttention)]
    source_attention = [m for _, m in _units(source) if isinstance(m, PyramidAttention)]
    fresh = []
    if len(source_attention) == len(attention):
        for (_, block), source_block in zip(attention, source_attention):
            block.load_state_dict(source_block.state_dict())
    else:
        for name, block in attention:
            block.value.conv.weight.zero_()
            block.value.conv.bias.zero_()
            fresh.append(f"{name} (attention, value projection zeroed)")
    return fresh
