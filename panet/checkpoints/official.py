"""Loading the authors' released checkpoints (plain ``torch.save(state_dict)`` files).

The architecture is read from the checkpoint itself (PANet or PA-EDSR, ResBlocks, features,
channels, attention positions, SR scale). Every key must be accounted for and every shape
must match: the authors' own loader ignores unknown keys and shape errors, so a wrong
configuration would otherwise load silently. Files are read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from panet.files import check_input_file
from panet.models.networks import resolve_positions
from panet.models.registry import build_architecture

__all__ = ["CheckpointError", "read_state_dict", "infer_official_config",
           "official_to_native", "load_official_checkpoint"]

# Authors' attention submodule names -> ours (θ query, φ key, g value).
_ATTENTION_NAMES = {"conv_match_L_base": "query", "conv_match": "key", "conv_assembly": "value"}
_ATTENTION_KEY = re.compile(r"^(body\.\d+)\.(conv_match_L_base|conv_match|conv_assembly)"
                            r"\.([01])\.(weight|bias)$")
_BODY_INDEX = re.compile(r"^body\.(\d+)\.")


class CheckpointError(ValueError):
    """A weight file that cannot be used, with the reason in one line."""


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def torch_load_safely(path: str | os.PathLike):
    """``torch.load`` with ``weights_only=True`` (tensors and plain containers only: no code
    from the file ever runs); any failure is a one-line :class:`CheckpointError`."""
    import pickle
    import warnings

    path = os.fspath(path)
    check_input_file(path, CheckpointError)
    try:
        with warnings.catch_warnings():   # torch warns about pickle protocols on the way
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: refused: it holds code or objects other than tensors "
                              "(only weights are loaded, and no code from a file is run), or "
                              "it is not a PyTorch checkpoint at all") from None
    except Exception as error:  # torch raises many types for corrupt files; report them all
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or "
                              f"corrupt): {_short(error)}") from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a PyTorch state dict safely (no code execution) or raise :class:`CheckpointError`.

    A dict wrapping the state dict under ``state_dict``/``model``/``params`` and a
    ``module.`` prefix (from ``DataParallel``) are accepted.
    """
    path = os.fspath(path)
    obj = torch_load_safely(path)
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model", "params"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and all(isinstance(k, str) for k in inner):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: not a state dict (found {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a state dict: entry {bad[0]!r} is not a named tensor")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _shape(state: Mapping[str, torch.Tensor], key: str, ndim: int) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"missing key {key!r}")
    shape = tuple(state[key].shape)
    if len(shape) != ndim:
        raise CheckpointError(f"key {key!r} has shape {shape}, expected {ndim} dimensions")
    return shape


def _parse_body(state: Mapping[str, torch.Tensor]) -> tuple[int, list[int], int, float]:
    """Count ResBlocks, find attention positions, reduction and key epsilon in ``body.*``."""
    indices = sorted({int(m.group(1)) for k in state if (m := _BODY_INDEX.match(k))})
    if not indices:
        raise CheckpointError("no 'body.*' keys: not a PANet or PA-EDSR checkpoint")
    if indices != list(range(len(indices))):
        raise CheckpointError(f"body indices are not contiguous: {indices}")
    last = indices[-1]
    if f"body.{last}.weight" not in state:
        raise CheckpointError(f"missing key 'body.{last}.weight' (the body's final conv)")
    n_resblocks, positions, reductions, eps_values = 0, [], set(), set()
    for index in indices[:-1]:
        if f"body.{index}.body.0.weight" in state:
            n_resblocks += 1
        elif f"body.{index}.conv_match.0.weight" in state:
            positions.append(n_resblocks)
            n_feats = _shape(state, f"body.{index}.conv_assembly.0.weight", 4)[0]
            reductions.add(n_feats / _shape(state, f"body.{index}.conv_match.0.weight", 4)[0])
            eps = state.get(f"body.{index}.escape_NaN")
            if eps is not None and eps.numel() == 1:
                eps_values.add(float(eps))
        else:
            raise CheckpointError(f"body.{index} is neither a ResBlock nor a pyramid attention")
    if len(reductions) > 1 or len(eps_values) > 1:
        raise CheckpointError("attention blocks disagree on reduction or escape_NaN")
    reduction = reductions.pop() if reductions else None
    if reduction is not None and reduction != int(reduction):
        raise CheckpointError(f"attention reduction {reduction} is not an integer")
    key_eps = eps_values.pop() if eps_values else 1e-4
    return n_resblocks, positions, int(reduction) if reduction else 0, key_eps


def _named_positions(positions: list[int], n_resblocks: int) -> list[str | int]:
    names = {resolve_positions([name], n_resblocks)[0]: name for name in ("post", "mid", "pre")}
    return [names.get(p, p) for p in positions]


def _sr_scale(state: Mapping[str, torch.Tensor], n_feats: int) -> int:
    convs = sorted(int(m.group(1)) for k in state
                   if (m := re.match(r"^tail\.0\.(\d+)\.weight$", k)))
    if not convs:
        raise CheckpointError("missing key 'tail.0.0.weight' (the upsampler)")
    outs = {_shape(state, f"tail.0.{i}.weight", 4)[0] for i in convs}
    if outs == {9 * n_feats} and convs == [0]:
        return 3
    if outs == {4 * n_feats} and convs == list(range(0, 2 * len(convs), 2)):
        return 2 ** len(convs)
    raise CheckpointError(f"upsampler convs {convs} with {sorted(outs)} output channels fit "
                          "no x2/x3/x4/x8 EDSR upsampler")


def infer_official_config(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, Any]]:
    """Architecture name and constructor arguments that fit an authors' state dict."""
    n_feats, in_channels = _shape(state, "head.0.weight", 4)[:2]
    n_resblocks, positions, reduction, key_eps = _parse_body(state)
    config: dict[str, Any] = {"n_feats": n_feats, "n_resblocks": n_resblocks,
                              "attention_positions": _named_positions(positions, n_resblocks),
                              "key_eps": key_eps}
    if reduction:
        config["reduction"] = reduction
    if "tail.0.weight" in state:  # PANet: a single tail conv
        config["in_channels"] = in_channels
        config["out_channels"] = _shape(state, "tail.0.weight", 4)[0]
        slopes = [v for k, v in state.items() if re.match(r"^body\.\d+\.body\.1\.weight$", k)]
        config["shared_prelu"] = all(torch.equal(s, slopes[0]) for s in slopes)
        return "panet", config
    if "tail.1.weight" in state:  # PA-EDSR: upsampler, then a conv
        if in_channels != 3:
            raise CheckpointError(f"PA-EDSR checkpoints have 3 input channels, this has {in_channels}")
        config["scale"] = _sr_scale(state, n_feats)
        if "sub_mean.bias" in state:
            config["rgb_mean"] = [-float(v) for v in state["sub_mean.bias"].flatten()]
        return "pa_edsr", config
    raise CheckpointError("no 'tail.0.weight' (PANet) or 'tail.1.weight' (PA-EDSR) key")


def _check_mean_shift(state: Mapping[str, torch.Tensor], architecture: str) -> None:
    """The authors' mean shift is a fixed 1x1 conv; ours supports identity std only."""
    for name in ("sub_mean", "add_mean"):
        weight, bias = state.get(f"{name}.weight"), state.get(f"{name}.bias")
        if weight is None and bias is None and architecture == "panet":
            continue
        if weight is None or bias is None or tuple(weight.shape) != (3, 3, 1, 1) \
                or tuple(bias.shape) != (3,):
            raise CheckpointError(f"'{name}' must hold a 3x3x1x1 weight and a 3-element bias")
        if architecture == "pa_edsr":
            if not torch.allclose(weight.flatten(1).float(), torch.eye(3), atol=1e-6):
                raise CheckpointError(f"'{name}' divides by a std other than 1, unsupported")
            if name == "add_mean" and not torch.allclose(
                    bias, -state["sub_mean.bias"], atol=1e-6):
                raise CheckpointError("'add_mean' does not undo 'sub_mean'")


def official_to_native(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an authors' state dict to ``model``'s names, refusing any misfit."""
    architecture = model.architecture
    _check_mean_shift(state, architecture)
    expected = model.state_dict()
    attention_indices = sorted({int(m.group(1)) for k in state
                                if (m := re.match(r"^body\.(\d+)\.conv_match\.0\.weight$", k))})
    renamed: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, tensor in state.items():
        if key.startswith(("sub_mean.", "add_mean.")):
            if architecture == "pa_edsr" and key.endswith(".bias"):
                renamed[key.replace(".bias", ".shift")] = tensor.view(1, 3, 1, 1)
            continue
        if key.startswith("msa."):  # PA-EDSR keeps its attention under two names
            suffix = key[len("msa"):]
            twin = next((f"body.{i}{suffix}" for i in attention_indices
                         if f"body.{i}{suffix}" in state), None)
            if twin is None or not torch.equal(state[twin], tensor):
                raise CheckpointError(f"key {key!r} does not equal its twin {twin!r}")
            continue
        if key.endswith(".escape_NaN"):
            continue
        match = _ATTENTION_KEY.match(key)
        if match:
            prefix, name, layer, kind = match.groups()
            key = f"{prefix}.{_ATTENTION_NAMES[name]}.{'conv' if layer == '0' else 'act'}.{kind}"
        if key not in expected:
            unexpected.append(key)
            continue
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(f"key {key!r} has shape {tuple(tensor.shape)}, the inferred "
                                  f"model needs {tuple(expected[key].shape)}")
        renamed[key] = tensor
    if unexpected:
        raise CheckpointError(f"unexpected key(s) {', '.join(map(repr, unexpected[:5]))}"
                              f"{' ...' if len(unexpected) > 5 else ''}")
    missing = [k for k in expected if k not in renamed]
    if missing:
        raise CheckpointError(f"missing key(s) {', '.join(map(repr, missing[:5]))}"
                              f"{' ...' if len(missing) > 5 else ''}")
    return renamed


def load_official_checkpoint(path: str | os.PathLike) -> nn.Module:
    """Build the model an authors' checkpoint describes and load it.

    Returns the model in eval mode, float32, taking inputs in [0, 1]. Raises
    :class:`CheckpointError` with a one-line reason for anything that does not fit.
    """
    state = read_state_dict(path)
    try:
        architecture, config = infer_official_config(state)
        model = build_architecture(architecture, config)
        model.load_state_dict(official_to_native(state, model))
    except CheckpointError as error:
        raise CheckpointError(f"{os.fspath(path)}: {error}") from None
    except (ValueError, RuntimeError) as error:
        raise CheckpointError(f"{os.fspath(path)}: does not fit a PANet or PA-EDSR: "
                              f"{_short(error)}") from None
    return model.float().eval()
