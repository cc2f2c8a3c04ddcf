"""What the machine can do fast, detected at run time (never assumed)."""

from __future__ import annotations

import functools

import torch

__all__ = ["cpu_flags", "has_fast_low_precision", "describe_machine"]


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _cpu_has_native_bfloat16() -> bool:
    # PyTorch's own probes first (private, so guarded); /proc/cpuinfo as the fallback.
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        if check is not None:
            try:
                if check():
                    return True
            except RuntimeError:
                pass
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def has_fast_low_precision(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether matrix products in ``dtype`` run natively (faster than float32) on ``device``.

    On CPUs without AMX or AVX-512 BF16 a bfloat16 matrix product is emulated and can be
    hundreds of times slower than float32, so callers should compute in float32 there.

    >>> has_fast_low_precision("cpu", torch.float32)
    False
    """
    device = torch.device(device)
    if dtype not in (torch.bfloat16, torch.float16):
        return False
    if device.type == "cuda":
        return dtype == torch.float16 or torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        if dtype == torch.bfloat16:
            return _cpu_has_native_bfloat16()
        check = getattr(torch.cpu, "_is_amx_fp16_supported", None)
        return bool(check and check())
    return False


def describe_machine() -> str:
    """One line for reports: CPU model, threads, fast bfloat16 or not, GPU if any.

    >>> "threads" in describe_machine()
    True
    """
    import platform

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    text = (f"{name}, {torch.get_num_threads()} threads, fast bfloat16 "
            f"{'yes' if has_fast_low_precision('cpu', torch.bfloat16) else 'no'}")
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text

