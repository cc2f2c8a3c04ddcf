"""Test helpers: checkpoints in the authors' format, and their network written from SPEC §1/§2.

Nothing here uses panet's modules: the forward pass below works on the raw state dict with
torch.nn.functional, so that it is an independent expectation for the converter.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)


def _attention_keys(prefix: str, n_feats: int, reduction: int) -> list[tuple[str, tuple]]:
    embed = n_feats // reduction
    keys = [(f"{prefix}.escape_NaN", (1,))]
    for name, out in (("conv_match_L_base", embed), ("conv_match", embed),
                      ("conv_assembly", n_feats)):
        keys += [(f"{prefix}.{name}.0.weight", (out, n_feats, 1, 1)),
                 (f"{prefix}.{name}.0.bias", (out,)), (f"{prefix}.{name}.1.weight", (1,))]
    return keys


def official_keys(kind: str, n_resblocks: int, n_feats: int, in_channels: int = 3,
                  out_channels: int = 3, scale: int = 2, reduction: int | None = None):
    """Key names and shapes of an authors' PANet ('panet') or PA-EDSR ('pa_edsr') state dict."""
    reduction = reduction or (2 if kind == "panet" else 8)
    keys = [("sub_mean.weight", (3, 3, 1, 1)), ("sub_mean.bias", (3,))]
    attention_index = n_resblocks // 2
    if kind == "pa_edsr":
        keys += [(k.replace(f"body.{attention_index}", "msa", 1), s)
                 for k, s in _attention_keys(f"body.{attention_index}", n_feats, reduction)]
    keys += [("add_mean.weight", (3, 3, 1, 1)), ("add_mean.bias", (3,)),
             ("head.0.weight", (n_feats, in_channels, 3, 3)), ("head.0.bias", (n_feats,))]
    index = 0
    for block in range(n_resblocks + 1):
        if block == attention_index:
            keys += _attention_keys(f"body.{index}", n_feats, reduction)
            index += 1
        if block == n_resblocks:
            break
        keys += [(f"body.{index}.body.0.weight", (n_feats, n_feats, 3, 3)),
                 (f"body.{index}.body.0.bias", (n_feats,))]
        if kind == "panet":
            keys.append((f"body.{index}.body.1.weight", (1,)))
        keys += [(f"body.{index}.body.2.weight", (n_feats, n_feats, 3, 3)),
                 (f"body.{index}.body.2.bias", (n_feats,))]
        index += 1
    keys += [(f"body.{index}.weight", (n_feats, n_feats, 3, 3)), (f"body.{index}.bias", (n_feats,))]
    if kind == "panet":
        keys += [("tail.0.weight", (out_channels, n_feats, 3, 3)), ("tail.0.bias", (out_channels,))]
    else:
        factor = 9 if scale == 3 else 4
        for step in range(1 if scale == 3 else int(math.log2(scale))):
            keys += [(f"tail.0.{2 * step}.weight", (factor * n_feats, n_feats, 3, 3)),
                     (f"tail.0.{2 * step}.bias", (factor * n_feats,))]
        keys += [("tail.1.weight", (3, n_feats, 3, 3)), ("tail.1.bias", (3,))]
    return keys


def make_official_state(kind: str, n_resblocks: int, n_feats: int, seed: int = 0,
                        mean=DIV2K_MEAN, escape: float = 1e-4, **kwargs):
    """Random weights in the authors' layout (shared PReLU, escape_NaN, aliased msa.*);
    ``mean`` is the RGB mean of the mean shift, ``escape`` the attention's escape_NaN."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    slope = torch.rand(1, generator=generator) * 0.3
    for key, shape in official_keys(kind, n_resblocks, n_feats, **kwargs):
        if key.startswith("msa."):
            continue  # filled below as an alias of the body's attention
        if key.endswith("escape_NaN"):
            state[key] = torch.tensor([escape])
        elif key.endswith("_mean.weight"):
            state[key] = torch.eye(3).view(3, 3, 1, 1)
        elif key.startswith(("sub_mean", "add_mean")):
            sign = -1.0 if key.startswith("sub") else 1.0
            state[key] = sign * torch.tensor(mean)
        elif key.endswith(".body.1.weight"):
            state[key] = slope  # the same tensor everywhere, as in the authors' files
        elif key.endswith(".1.weight") and len(shape) == 1:
            state[key] = torch.rand(1, generator=generator) * 0.3
        elif key.endswith("bias"):
            state[key] = torch.randn(shape, generator=generator) * 0.01
        else:
            fan_in = shape[1] * shape[2] * shape[3]
            gain = 0.3 if ".body." in key else 1.0
            state[key] = torch.randn(shape, generator=generator) * gain / math.sqrt(fan_in)
    if kind == "pa_edsr":
        twin = f"body.{n_resblocks // 2}."
        for key in [k for k in state if k.startswith(twin) and ".body." not in k]:
            state["msa." + key[len(twin):]] = state[key]
    return state


def _patches(features: torch.Tensor) -> torch.Tensor:
    return F.unfold(features, kernel_size=3, padding=1)[0].t()  # positions x (C*9)


def _embed(state, prefix, x):
    return F.prelu(F.conv2d(x, state[prefix + ".0.weight"], state[prefix + ".0.bias"]),
                   state[prefix + ".1.weight"])


def spec_attention(state, prefix: str, x: torch.Tensor, res_scale: float) -> torch.Tensor:
    """SPEC §1 written out with a full score matrix, sample by sample."""
    outputs = []
    for sample in x.split(1):
        height, width = sample.shape[-2:]
        q = _patches(_embed(state, prefix + ".conv_match_L_base", sample))
        keys, values = [], []
        for s in SCALES:
            size = (math.floor(height * s), math.floor(width * s))
            if min(size) == 0:
                continue
            level = sample if s == 1.0 else F.interpolate(sample, size=size, mode="bicubic",
                                                          align_corners=False)
            keys.append(_patches(_embed(state, prefix + ".conv_match", level)))
            values.append(_patches(_embed(state, prefix + ".conv_assembly", level)))
        k = torch.cat(keys)
        k = k / torch.maximum(k.norm(dim=1, keepdim=True), state[prefix + ".escape_NaN"])
        attention = torch.softmax(10.0 * q @ k.t(), dim=1)
        gathered = (attention @ torch.cat(values)).t()[None]
        outputs.append(F.fold(gathered, (height, width), kernel_size=3, padding=1) / 4
                       + res_scale * sample)
    return torch.cat(outputs)


@torch.no_grad()
def official_forward(state, x: torch.Tensor) -> torch.Tensor:
    """The authors' PANet or PA-EDSR forward pass, from their state dict alone."""
    sr = "tail.1.weight" in state
    conv = lambda t, name: F.conv2d(t, state[name + ".weight"], state[name + ".bias"],  # noqa: E731
                                    padding=state[name + ".weight"].shape[-1] // 2)
    if sr:
        x = conv(x, "sub_mean")
    head = conv(x, "head.0")
    features = head
    last = max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    for index in range(last):
        prefix = f"body.{index}"
        if prefix + ".conv_match.0.weight" in state:
            features = spec_attention(state, prefix, features, 0.1 if sr else 1.0)
        else:
            y = conv(features, prefix + ".body.0")
            y = F.relu(y) if sr else F.prelu(y, state[prefix + ".body.1.weight"])
            y = conv(y, prefix + ".body.2")
            features = features + (0.1 if sr else 1.0) * y
    features = conv(features, f"body.{last}") + head
    if not sr:
        return conv(features, "tail.0")
    step = 0
    while f"tail.0.{step}.weight" in state:
        features = conv(features, f"tail.0.{step}")
        factor = 3 if state[f"tail.0.{step}.weight"].shape[0] == 9 * head.shape[1] else 2
        features = F.pixel_shuffle(features, factor)
        step += 2
    return conv(conv(features, "tail.1"), "add_mean")


def read_key_list(path) -> list[tuple[str, tuple]]:
    """Parse ``../shared/reference/official_keys/*.txt`` (``name (d0, d1, ...)`` lines)."""
    keys = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#") or "(" not in line:
            continue
        name, shape = line.split(" ", 1)
        keys.append((name, tuple(int(d) for d in shape.strip("()").split(",") if d.strip())))
    return keys
