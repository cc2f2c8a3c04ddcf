"""What the machine can do fast, detected at run time (never assumed)."""

from __future__ import annotations

import functools

import torch

__all__ = ["cpu_flags", "has_fast_low_precision", "autocast_dtype", "precision_plan",
           "use_float32_products", "describe_machine", "PRECISIONS", "available_device"]

#: What ``train.precision`` accepts (``--precision`` of restore and eval: all but tf32).
#: ``tf32`` is float32 with TF32 tensor-core products on CUDA GPUs, plain float32 elsewhere.
PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")


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


def available_device(name: str) -> torch.device:
    """The device called ``name`` (``auto``: a GPU if there is one), if this machine and
    this PyTorch build have it; ``ValueError`` in one line otherwise.

    >>> available_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r} is not a device name (cpu, cuda, cuda:1, auto)"
                         ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                             "GPU(s)")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r}: only cpu and cuda are supported")
    return device


@functools.lru_cache(maxsize=None)
def _cpu_low_precision_speedup(dtype: torch.dtype, size: int = 768) -> float:
    """How many times faster a ``size``-cubed matrix product runs in ``dtype`` than in
    float32 on this CPU (best of 3 each; about a tenth of a second, measured once)."""
    import time

    def best(dt: torch.dtype) -> float:
        a, b = torch.randn(size, size).to(dt), torch.randn(size, size).to(dt)
        torch.mm(a, b)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        return min(times)

    # autocast would turn the float32 product into a low-precision one
    with torch.autocast("cpu", enabled=False), torch.no_grad():
        return best(torch.float32) / best(dtype)


# Under torch.compile the answer is taken once, when the graph is traced, instead of the
# timing being traced into the graph (train.compile)
@torch.compiler.assume_constant_result
def has_fast_low_precision(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether matrix products in ``dtype`` run faster than float32 on ``device``.

    On CPUs the hardware must have native support (AMX or AVX-512 BF16 for bfloat16, AMX
    for float16; without it a product is emulated, up to hundreds of times slower), and a
    short timing of one product must confirm it is at least 1.2x faster than float32.

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
            native = _cpu_has_native_bfloat16()
        else:
            check = getattr(torch.cpu, "_is_amx_fp16_supported", None)
            native = bool(check and check())
        return native and _cpu_low_precision_speedup(dtype) >= 1.2
    return False


def autocast_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for a precision name (``None``: plain float32).

    ``auto`` picks bfloat16 (float16 on CUDA GPUs without bfloat16) only where
    :func:`has_fast_low_precision` finds it faster, and float32 everywhere else.

    >>> autocast_dtype("fp32", "cpu") is None
    True
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision in ("fp32", "tf32"):   # no autocast; tf32 is set by use_float32_products
        return None
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if has_fast_low_precision(device, torch.bfloat16) else None
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def use_float32_products(precision: str, device: torch.device | str) -> None:
    """On a CUDA device, let float32 matrix products use TF32 tensor cores (inputs rounded
    to a 10-bit mantissa, sums in float32; Ampere and newer) for ``tf32``, and keep them in
    full float32 for every other precision.

    Full float32 products are PyTorch's default, which also lets cuDNN's convolutions use
    TF32 (left as it is): ``tf32`` adds the matrix products, most of the attention's work.
    The setting is process-wide (PyTorch applies it to oneDNN's CPU products too, on CPUs
    that have a faster mode); for a CPU device nothing is set.

    >>> use_float32_products("tf32", "cpu")   # no TF32 on a CPU: nothing changes
    """
    if torch.device(device).type == "cuda":
        # the long-standing switch: PyTorch's newer per-backend one makes this one raise
        # when read afterwards, and parts of PyTorch still read it
        torch.set_float32_matmul_precision("high" if precision == "tf32" else "highest")


def precision_plan(precision: str, device: torch.device | str = "cpu") -> str:
    """What a precision runs as on ``device``: the convolutions, and the attention's path
    (with its default ``low_precision_kernel="auto"``).

    >>> precision_plan("fp32")
    'float32 everywhere'
    """
    try:
        dtype = autocast_dtype(precision, device)
    except ValueError as error:
        return f"not available ({error})"
    if dtype is None:
        if precision == "fp32" and torch.device(device).type == "cuda":
            return "float32 everywhere (cuDNN's convolutions may use TF32, PyTorch's default)"
        if precision == "tf32":
            return ("float32 storage and sums; convolutions and matrix products (the "
                    "attention's too) round their inputs to TF32"
                    if torch.device(device).type == "cuda"
                    else "float32 everywhere (TF32 exists on CUDA GPUs only)")
        return "float32 everywhere"
    name = {torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]
    if has_fast_low_precision(device, dtype):
        attention = (f"matching and softmax in float32, aggregation of values and the "
                     f"backward's products in {name}")
    else:
        attention = f"all float32 ({name} matrix products are not faster here)"
    return f"autocast {name} for convolutions; attention: {attention}"


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

