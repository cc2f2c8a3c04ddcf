"""Where the time of one PyramidAttention forward pass goes, operator by operator.

The paper module (64 channels, reduction 2, five levels) on one random image, run once to
warm up and once under ``torch.profiler``; prints the operators sorted by their own time.

    python experiments/attention_profile.py --size 128 --precision fp32
    python experiments/attention_profile.py --size 128 --precision bf16 --threads 2
"""

from __future__ import annotations

import argparse

import torch

from panet.attention import PyramidAttention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: autocast with the native low-precision kernel")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=12, help="operators to print")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # the defaults are the paper module: 64 channels, reduction 2, levels 1 to 0.6
    module = PyramidAttention(low_precision_kernel="native").eval()
    x = torch.randn(1, 64, args.size, args.size)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=args.precision == "bf16"):
        module(x)
        with torch.profiler.profile() as profile:
            module(x)
    print(f"{args.size}^2, {args.precision}, {args.threads} threads")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
