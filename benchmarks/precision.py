"""Error of the bfloat16 paths of PyramidAttention against float32, on random features.

    python benchmarks/precision.py [--size 48] [--gain 1 3]

``gain`` multiplies the input; larger inputs give larger matching scores (x10 before the
softmax), which is where low-precision matching goes wrong. "native" is the kernel that
matches in float32 and aggregates values (and computes their gradients) in bfloat16; "plain
bf16 matching" rounds queries and keys to bfloat16 before the product, for contrast.
The "input grad" columns compare the gradient of ``sum(out * w)`` (random ``w``) with the
input against the float32 module's, relative to its largest entry.

The expectation is the float32 module on the same bfloat16-rounded input, with
``res_scale=0``: the error shown is the attention's own, not the rounding of the input or
of the residual sum.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import panet.attention.pyramid as pyramid_module
from panet import PyramidAttention
from panet.attention import kernel


def plain_bf16_matching(queries, keys, values, scale, *budgets):
    return kernel.attend(queries.bfloat16().float(), keys.bfloat16().float(), values.float(),
                         scale, *budgets).to(values.dtype)


def input_gradient(module, x, weights):
    x = x.detach().requires_grad_(True)
    (module(x).float() * weights).sum().backward()
    return x.grad.float()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--gain", type=float, nargs="+", default=[1.0, 3.0])
    args = parser.parse_args()
    torch.manual_seed(0)
    # Weights rounded to bfloat16 once, so that every path starts from the same numbers.
    module = PyramidAttention(64, 2, res_scale=0.0).to(torch.bfloat16).float()
    print(f"{'gain':>5} {'max |score|':>11} {'path':<28} {'max abs err':>12} {'rel to max|out|':>16} {'mean abs err':>13} {'input grad (autocast)':>16}")
    for gain in args.gain:
        x = (torch.randn(1, 64, args.size, args.size) * gain).bfloat16().float()
        with torch.inference_mode():
            exact = module(x)
            queries = F.unfold(module.query(x), 3, padding=1)[0]
            keys = torch.cat([F.unfold(module.key(level), 3, padding=1)[0]
                              for level in module.levels(x)], dim=1)
            keys = keys / keys.norm(dim=0, keepdim=True).clamp_min(module.key_eps)
            top_score = (module.softmax_scale * keys.t() @ queries).abs().max().item()
            results = {}
            for name, choice in (("bf16, native kernel", "native"),
                                 ("bf16, float32 kernel", "float32")):
                low = PyramidAttention(64, 2, res_scale=0.0, low_precision_kernel=choice).to(torch.bfloat16)
                low.load_state_dict(module.state_dict())
                results[name] = low(x.bfloat16()).float()
            # Swap the kernel the module calls for one that rounds queries and keys first.
            original = pyramid_module.attend
            pyramid_module.attend = plain_bf16_matching
            try:
                low = PyramidAttention(64, 2, res_scale=0.0, low_precision_kernel="float32").to(torch.bfloat16)
                low.load_state_dict(module.state_dict())
                results["plain bf16 matching"] = low(x.bfloat16()).float()
            finally:
                pyramid_module.attend = original
        weights = torch.randn_like(exact)
        exact_grad = input_gradient(module, x, weights)
        grads = {}
        for name, choice in (("bf16, native kernel", "native"),
                             ("bf16, float32 kernel", "float32")):
            low = PyramidAttention(64, 2, res_scale=0.0, low_precision_kernel=choice)
            low.load_state_dict(module.state_dict())
            with torch.autocast("cpu", dtype=torch.bfloat16):
                grads[name] = input_gradient(low, x, weights)
        for name, out in results.items():
            error = (out - exact).abs()
            grad = ""
            if name in grads:
                grad_error = (grads[name] - exact_grad).abs().max() / exact_grad.abs().max()
                grad = f"{grad_error.item():>16.4%}"
            print(f"{gain:>5g} {top_score:>11.0f} {name:<28} {error.max().item():>12.4f} "
                  f"{error.max().item() / exact.abs().max().item():>16.4%} "
                  f"{error.mean().item():>13.5f} {grad}")


if __name__ == "__main__":
    main()
