"""Time and peak memory of PyramidAttention beside a full-matrix reference.

Every measurement runs in a fresh subprocess so that peak memory (ru_maxrss) belongs to one
configuration. The achieved share of the machine's matrix throughput is
``attention flops / time / GEMM rate``; the float32 GEMM rate (2048^2 products) is measured
in the same subprocess just before and after the attention run, and averaged, because the
speed of these shared machines drifts by tens of percent over minutes.

    python benchmarks/attention.py                       # 48, 96, 128, 192; fp32 and bf16
    python benchmarks/attention.py --sizes 48 96 --reference-max 96 --backward

Attention flops: matching ``2*N*L*(C/r*9)`` plus aggregation ``2*N*L*(C*9)``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)


def keys_for(size: int) -> int:
    return sum(math.floor(size * s) ** 2 for s in SCALES)


def attention_flops(size: int, channels: int = 64, reduction: int = 2) -> float:
    n, l = size * size, keys_for(size)
    return 2.0 * n * l * (channels // reduction * 9 + channels * 9)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(impl: str, dtype: str, size: int, repeats: int, backward: bool) -> dict:
    import torch

    from panet import PyramidAttention
    from panet.attention.reference import reference_pyramid_attention

    torch.manual_seed(0)
    kernel = "native" if impl == "panet-native" else "auto"
    module = PyramidAttention(64, 2, low_precision_kernel=kernel)
    x = torch.randn(1, 64, size, size)
    low = dtype == "bf16"
    if low:
        module, x = module.to(torch.bfloat16), x.to(torch.bfloat16)

    def run():
        if impl == "reference":
            return reference_pyramid_attention(module, x)
        if backward:
            xg = x.detach().requires_grad_(True)
            module(xg).float().square().mean().backward()
            return xg.grad
        with torch.inference_mode():
            return module(x)

    small = torch.randn(1, 64, 12, 12, dtype=x.dtype)  # initialise kernels outside the timing
    with torch.inference_mode():
        module(small)
    base = _peak_mib()
    return {**timed_between_gemm_rates(run, repeats), "baseline_mib": base}


def timed_between_gemm_rates(run, repeats: int) -> dict:
    """Best and all times of ``repeats`` calls of ``run``, the process's peak memory, and
    the float32 GEMM rate measured just before and after (the machine's speed drifts)."""
    rates = [gemm_rate("fp32")]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    rates.append(gemm_rate("fp32"))
    return {"seconds": min(times), "all_seconds": times, "peak_mib": _peak_mib(),
            "gemm_fp32": sum(rates) / len(rates)}


def gemm_rate(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    import torch

    dt = torch.float32 if dtype == "fp32" else torch.bfloat16
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2.0 * n ** 3 * repeats / (time.perf_counter() - start)


def measure(impl: str, dtype: str, size: int, repeats: int, backward: bool = False) -> dict:
    command = [sys.executable, __file__, "--worker", impl, dtype, str(size), str(repeats)]
    if backward:
        command.append("--backward")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = "out of memory" if result.returncode in (-9, 137) else \
            (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": reason}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 96, 128, 192])
    parser.add_argument("--reference-max", type=int, default=96,
                        help="largest size for the full-matrix reference (memory ~ 3*4*N*L bytes)")
    parser.add_argument("--native-bf16-max", type=int, default=128,
                        help="largest size for the split-precision bf16 kernel forced on")
    parser.add_argument("--backward", action="store_true", help="also time forward+backward")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args, _ = parser.parse_known_args()
    if args.worker:
        impl, dtype, size, repeats = args.worker
        print(json.dumps(worker(impl, dtype, int(size), int(repeats), "--backward" in sys.argv)))
        return

    import torch

    from panet.hardware import has_fast_low_precision

    fp32_rate, bf16_rate = gemm_rate("fp32"), gemm_rate("bf16", n=512, repeats=1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, fast bf16: "
          f"{has_fast_low_precision('cpu', torch.bfloat16)}")
    print(f"GEMM rate at start: fp32 {fp32_rate / 1e9:.1f} GFLOP/s (2048^2), bf16 "
          f"{bf16_rate / 1e9:.1f} GFLOP/s (512^2)")
    header = f"{'size':>7} {'keys L':>8} {'implementation':<22} {'dtype':<5} {'pass':<8} " \
             f"{'time s':>8} {'peak MiB':>9} {'GFLOP/s':>8} {'GEMM GF/s':>9} {'share':>7}"
    print(header)
    rows = []
    for size in args.sizes:
        plans = [("panet", "fp32", False), ("panet", "bf16", False)]
        if size <= args.native_bf16_max:
            plans.append(("panet-native", "bf16", False))
        if size <= args.reference_max:
            plans.append(("reference", "fp32", False))
        if args.backward:
            plans.append(("panet", "fp32", True))
        for impl, dtype, backward in plans:
            repeats = 3 if size <= 96 else 1
            result = measure(impl, dtype, size, repeats, backward)
            flops = attention_flops(size) * (3.0 if backward else 1.0)
            row = {"size": size, "keys": keys_for(size), "impl": impl, "dtype": dtype,
                   "pass": "fwd+bwd" if backward else "forward", **result}
            name = {"panet": "PyramidAttention", "panet-native": "PyramidAttention native",
                    "reference": "full-matrix reference"}[impl]
            if "error" in result:
                print(f"{size:>4}^2 {row['keys']:>8} {name:<22} {dtype:<5} {row['pass']:<8} "
                      f"{result['error']}")
            else:
                rate = flops / result["seconds"]
                row.update(gflops=rate / 1e9, gemm_fraction=rate / result["gemm_fp32"])
                print(f"{size:>4}^2 {row['keys']:>8} {name:<22} {dtype:<5} {row['pass']:<8} "
                      f"{result['seconds']:>8.2f} {result['peak_mib']:>9.0f} "
                      f"{rate / 1e9:>8.1f} {result['gemm_fp32'] / 1e9:>9.1f} "
                      f"{row['gemm_fraction']:>7.0%}")
            sys.stdout.flush()
            rows.append(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"gemm_fp32": fp32_rate, "gemm_bf16": bf16_rate, "rows": rows}, handle,
                      indent=1)


if __name__ == "__main__":
    main()
