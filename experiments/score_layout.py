"""Matrix-product speed of the two orientations a block of matching scores can take.

    python experiments/score_layout.py [--size 96] [--rows 256 512]

``rows x L`` (queries @ keys) against ``L x rows`` (keys^T @ queries), 288-wide patches
(C/r = 32, 3x3), with L the pyramid's key count for a size x size map; and the aggregation
product for each. The float32 GEMM rate (2048^2) is printed before and after for scale.
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def seconds(fn, repeats: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def gemm_gflops() -> float:
    a = torch.randn(2048, 2048)
    return 2 * 2048 ** 3 / seconds(lambda: a @ a) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--rows", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args()
    n = args.size ** 2
    keys = sum(math.floor(args.size * s) ** 2 for s in (1.0, 0.9, 0.8, 0.7, 0.6))
    queries = torch.randn(288, n)              # column layout, as unfold gives
    key_cols = torch.randn(288, keys)
    key_rows = key_cols.t().contiguous()
    values = torch.randn(576, keys)
    print(f"size {args.size}^2, L = {keys}; float32 GEMM {gemm_gflops():.1f} GFLOP/s")
    for rows in args.rows:
        block = queries[:, :rows]
        match = 2 * rows * 288 * keys / 1e9
        aggregate = 2 * rows * 576 * keys / 1e9
        wide, tall = torch.rand(rows, keys), torch.rand(keys, rows)
        print(f"rows {rows}: matching rows x L {match / seconds(lambda: block.t() @ key_cols):.1f}, "
              f"L x rows {match / seconds(lambda: key_rows @ block):.1f} GFLOP/s; "
              f"aggregation from rows x L {aggregate / seconds(lambda: wide @ values.t()):.1f}, "
              f"from L x rows {aggregate / seconds(lambda: values @ tall):.1f} GFLOP/s")
    print(f"float32 GEMM after: {gemm_gflops():.1f} GFLOP/s")


if __name__ == "__main__":
    main()
