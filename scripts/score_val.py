"""Score weight files on a configuration's validation crops (the check before shipping).

    python scripts/score_val.py configs/shipped/jpeg-color.yaml panet/weights/jpeg-color.safetensors \
        runs/cpu1-jpeg-color/model.safetensors --val .devpack/val

Prints the mean PSNR of each file on the fixed centre crops of the validation photos, with
the fixed degradation and the protocol that ``panet train`` validates with. ``--crop 256
--tile 48`` scores larger crops restored in overlapping tiles as ``panet restore`` does
(less noisy than three 96-px crops), every file with the same overlap (``--overlap``, or a
sixth of the tile), whatever tiling its metadata names. With ``model.luma_from`` (colour
JPEG) each file is scored as the pair that ships, that model giving the luma. New weights
replace the shipped ones only when they score higher here (never on offline-mini).

``--precision tf32`` emulates on the CPU what ``train.precision: tf32`` makes a CUDA GPU do:
every convolution and matrix product cuts its float32 operands to TF32's 10-bit mantissa
and sums in float32. ``--tf32-ops convs`` cuts the convolutions' only, as PyTorch's default
float32 does on a GPU, ``products`` the matrix products' only (what ``tf32`` adds to it).
The cut rounds to nearest, or with ``--tf32-rounding truncate`` drops the bits: how a GPU
converts is not documented, so both are measured. So the cost of TF32 to a model is
measured without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json

import torch
import yaml
from torch import nn
from torch.overrides import TorchFunctionMode

from panet.inference import default_overlap, model_scale
from panet.tiling import Tiles
from panet.train.build import luma_chroma_pair
from panet.train.config import apply_overrides, build_config
from panet.train.loop import validation_psnr
from panet.train.warm_start import load_source


class Tiled(nn.Module):
    """A model run in overlapping tiles (the whole input when ``tile`` is None)."""

    def __init__(self, model: nn.Module, tile: int | None, overlap: int | None = None) -> None:
        super().__init__()
        self.model, self.tile, self.overlap = model, tile, overlap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.tile:
            return self.model(x)
        # a fixed rule, not the model's own overlap: old and new weights are compared (and
        # recorded scores stay comparable) at the same tiling
        overlap = default_overlap(self.tile) if self.overlap is None else self.overlap
        return Tiles(self.tile, overlap, model_scale(self.model))(self.model, x)


def tf32_round(x: torch.Tensor, truncate: bool = False) -> torch.Tensor:
    """``x`` (float32) cut to TF32's 10 mantissa bits: rounded to nearest, ties to even, or
    with ``truncate`` the lower bits dropped (towards zero). Infinities and NaNs pass."""
    bits = x.contiguous().view(torch.int32)
    if not truncate:
        bits = bits + 0x0FFF + ((bits >> 13) & 1)
    cut = (bits & -0x2000).view(torch.float32)
    return torch.where(torch.isfinite(x), cut, x)


#: torch functions whose float32 operands a GPU rounds to TF32, with the positions of those
#: operands (an added term, bias or accumulator is not rounded)
PRODUCTS = {"bmm": (0, 1), "mm": (0, 1), "matmul": (0, 1), "__matmul__": (0, 1),
            "baddbmm": (1, 2), "addmm": (1, 2), "linear": (0, 1)}
CONVOLUTIONS = {"conv2d": (0, 1), "conv_transpose2d": (0, 1)}


class EmulatedTF32(TorchFunctionMode):
    """Round the float32 operands of ``rounded`` (name -> operand positions) to TF32."""

    def __init__(self, rounded: dict[str, tuple[int, ...]], truncate: bool = False) -> None:
        super().__init__()
        self.rounded, self.truncate = rounded, truncate

    def __torch_function__(self, func, types, args=(), kwargs=None):
        positions = self.rounded.get(getattr(func, "__name__", ""), ())
        if positions:
            args = tuple(tf32_round(a, self.truncate) if i in positions and
                         isinstance(a, torch.Tensor) and a.dtype == torch.float32 else a
                         for i, a in enumerate(args))
        return func(*args, **(kwargs or {}))


def precision_context(name: str, ops: str = "all", truncate: bool = False):
    """The context that scores under ``--precision name`` on the CPU; for ``tf32``, ``ops``
    (all, convs or products) says whose operands are cut, and ``truncate`` how."""
    if name == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if name == "tf32":
        rounded = {"all": {**PRODUCTS, **CONVOLUTIONS}, "convs": CONVOLUTIONS,
                   "products": PRODUCTS}[ops]
        return EmulatedTF32(rounded, truncate)
    return contextlib.nullcontext()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("weights", nargs="+", help=".safetensors files or training checkpoints")
    parser.add_argument("--val", required=True,
                        help="validation images (held-out training photos, never a test set)")
    parser.add_argument("--crop", type=int, help="validation crop size (overrides "
                        "data.val_patch_size)")
    parser.add_argument("--tile", type=int, help="restore in tiles of this size")
    parser.add_argument("--overlap", type=int,
                        help="overlap of neighbouring tiles (default: a sixth of the tile, "
                        "8 to 16, for every file alike)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override the configuration, as panet train --set (e.g. "
                        "task.sigma=15 to score one noise level)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "tf32"), default="fp32",
                        help="bf16: score under bfloat16 autocast on the CPU (does a model "
                        "trained in bfloat16 lean on its rounding?); tf32: emulate a GPU's "
                        "TF32 (above)")
    parser.add_argument("--tf32-ops", choices=("all", "convs", "products"), default="all",
                        help="with --precision tf32: whose operands are cut")
    parser.add_argument("--tf32-rounding", choices=("nearest", "truncate"), default="nearest",
                        help="with --precision tf32: how they are cut")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    overrides = [f"data.val={args.val}"]
    overrides += [f"data.val_patch_size={args.crop}"] if args.crop else []
    overrides += args.set

    def scored(path: str) -> nn.Module:   # with model.luma_from: the pair that ships
        network = load_source(path)
        pair = luma_chroma_pair(network, config)
        return network if pair is None else pair

    try:
        config = build_config(apply_overrides(raw, overrides))
        with precision_context(args.precision, args.tf32_ops,
                               args.tf32_rounding == "truncate"):
            scores = {path: round(validation_psnr(Tiled(scored(path), args.tile, args.overlap),
                                                  config), 4)
                      for path in args.weights}
    except ValueError as error:   # a bad option or --set, weights file or model.luma_from
        raise SystemExit(f"error: {str(error).splitlines()[0]}") from None
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
