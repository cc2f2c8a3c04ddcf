"""A small registry: model name -> constructor and default arguments."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from panet.models.networks import PAEDSR, PANet

__all__ = ["ModelEntry", "ARCHITECTURES", "create_model", "list_models", "model_entry",
           "build_architecture", "count_parameters"]

#: Architecture names stored in our weight files -> classes.
ARCHITECTURES: dict[str, type[nn.Module]] = {PANet.architecture: PANet,
                                             PAEDSR.architecture: PAEDSR}


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: which class, with which arguments, for which task."""

    name: str
    architecture: str
    task: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


_ENTRIES = [
    ModelEntry("panet", "panet", "denoise, demosaic, jpeg (colour)",
               "PANet: 80 ResBlocks, pyramid attention after the 40th (paper's model)"),
    ModelEntry("panet-gray", "panet", "denoise, jpeg on Y (gray)",
               "PANet for one-channel images", {"in_channels": 1}),
    ModelEntry("panet-s", "panet", "denoise (colour, light)",
               "PANet-S: 8 ResBlocks, pyramid attention after the 4th", {"n_resblocks": 8}),
    ModelEntry("resnet", "panet", "ablation baseline",
               "PANet without attention (the paper's ResNet baseline)",
               {"attention_positions": []}),
    ModelEntry("nonlocal", "panet", "ablation baseline",
               "PANet with pixel-wise single-scale non-local attention",
               {"scales": [1.0], "patch_size": 1}),
    ModelEntry("nonlocal-block", "panet", "ablation baseline",
               "PANet with 3x3 block-matching single-scale non-local attention",
               {"scales": [1.0]}),
    ModelEntry("panet-s-light", "panet", "denoise, demosaic, jpeg (the shipped models)",
               "PANet-S with light attention (reduction 4, levels 1 and 1/2)",
               {"n_resblocks": 8, "reduction": 4, "scales": [1.0, 0.5]}),
    ModelEntry("pa-edsr-x2", "pa_edsr", "sr x2", "EDSR + pyramid attention, x2", {"scale": 2}),
    ModelEntry("pa-edsr-x3", "pa_edsr", "sr x3", "EDSR + pyramid attention, x3", {"scale": 3}),
    ModelEntry("pa-edsr-x4", "pa_edsr", "sr x4", "EDSR + pyramid attention, x4", {"scale": 4}),
]
# The shipped SR models: EDSR-baseline size (64 features, 16 ResBlocks) + light attention.
_ENTRIES += [ModelEntry(f"pa-edsr-light-x{s}", "pa_edsr", f"sr x{s} (the shipped models)",
                        f"PA-EDSR at EDSR-baseline size with light attention, x{s}",
                        {"scale": s, "n_feats": 64, "n_resblocks": 16, "res_scale": 1.0,
                         "reduction": 4, "scales": [1.0, 0.5]}) for s in (2, 3, 4)]
_REGISTRY = {entry.name: entry for entry in _ENTRIES}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`.

    >>> "panet-s" in list_models()
    True
    """
    return list(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; a clear error lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}") from None


def build_architecture(architecture: str, config: dict[str, Any]) -> nn.Module:
    """Construct an architecture from keyword arguments, refusing unknown keys by name."""
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; known: "
                         f"{', '.join(ARCHITECTURES)}") from None
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"{cls.__name__} has no option(s) {', '.join(unknown)}; valid options: "
                         f"{', '.join(valid)}")
    return cls(**config)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model with its defaults, changed by ``overrides``.

    >>> model = create_model("panet-s", in_channels=1)
    >>> count_parameters(model) < count_parameters(create_model("panet-s"))
    True
    """
    entry = model_entry(name)
    return build_architecture(entry.architecture, {**entry.defaults, **overrides})


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
