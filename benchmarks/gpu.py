"""The accelerator benchmark: one command, one table, at most about two minutes.

    python benchmarks/gpu.py                      # on a CUDA machine
    python benchmarks/gpu.py --authors-code DIR   # the authors' module beside ours
    python benchmarks/gpu.py --device cpu --quick # the smoke run the test suite makes

1. The paper's attention block (64 channels, reduction 2, five levels) on one whole image
   of 128², 256², 512² and 1024² features, forward only, float32 (TF32 products on CUDA):
   this project's module with the fused kernel (``kernel="sdpa"``) and the block kernel,
   and with ``--authors-code`` (the ``DN_RGB/code`` folder of a checkout of the authors'
   repository) their module, side by side. Time (median of three after a warm-up), peak
   memory (CUDA's allocator), the attention products' rate and its share of the card's
   dense tensor peak; "out of memory" where it does not fit.
2. Training steps per second (L1 loss, fused Adam, random data) of the shipped
   architecture (PANet-S with the shipped models' light attention; with the default
   ``kernel="auto"``, fused on CUDA, and again with the block kernel) and of the paper's
   PANet, at batch 16 and 32 of 48² crops, in fp32, TF32 and bf16, with the step's rate
   (flops counted once by PyTorch's counter) as a share of the card's dense peak for that
   precision.

First, a short table says which of the fused attention backends (flash, memory-efficient,
cuDNN) take the attention's shapes (matching 9C/r channels wide, values 9C), and whether
splitting the values into chunks as wide as the matching helps (``attend_sdpa``'s
``value_chunk``, the fallback of ``kernel="auto"``).

``--compile MODE`` adds rows for the shipped architecture at the largest batch in TF32 and
bf16 with the network through ``torch.compile`` (``train.compile: MODE``;
``reduce-overhead`` replays CUDA graphs), with the time the compilation took. Compiling
takes minutes: these rows are outside the two-minute budget.

A row that would not finish within ``--budget`` seconds (judged from the rows before it)
is marked "skipped (time)". Peaks are known for the H100, H200 and A100; elsewhere the
share is left blank.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import types
import warnings

import torch
import torch.nn.functional as F

from panet import PyramidAttention
from panet.attention import DEFAULT_SCALES, set_attention_kernel
from panet.hardware import autocast_dtype, describe_machine, use_float32_products
from panet.models import create_model
from panet.train.config import COMPILE_MODES
from panet.train.loop import train_step
from train_throughput import SHIPPED   # the shipped models' attention options

#: Dense tensor-core peaks in TFLOP/s (vendor data sheets, SXM parts): fp32, TF32, bf16.
PEAKS = {"H100": {"fp32": 67, "tf32": 495, "bf16": 989},
         "H200": {"fp32": 67, "tf32": 495, "bf16": 989},
         "A100": {"fp32": 19.5, "tf32": 156, "bf16": 312}}


def _rate(flops_per_second: float) -> str:
    if flops_per_second >= 1e12:
        return f"{flops_per_second / 1e12:.1f} TFLOP/s"
    return f"{flops_per_second / 1e9:.1f} GFLOP/s"


def card_peak(device: str, precision: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(device)
    return next((p[precision] * 1e12 for key, p in PEAKS.items() if key in name), None)


def attention_flops(size: int) -> float:
    """Matching and aggregation products of the paper's block on a size² image."""
    keys = sum(math.floor(size * s) ** 2 for s in DEFAULT_SCALES)
    return 2.0 * size * size * keys * 9 * (64 // 2 + 64)


def authors_module(code: str) -> torch.nn.Module:
    """The authors' PyramidAttention from their checkout (torchvision stubbed: their file
    imports it without using it here)."""
    for name in ("torchvision", "torchvision.transforms", "torchvision.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.path.insert(0, code)
    from model.attention import PyramidAttention as Authors

    return Authors(level=5, res_scale=1, channel=64, reduction=2)


class Clock:
    """Time left of the budget, and whether a row estimated to take ``seconds`` fits."""

    def __init__(self, budget: float) -> None:
        self.end = time.monotonic() + budget

    def fits(self, seconds: float) -> bool:
        return time.monotonic() + seconds < self.end


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(run, device: str, repeats: int) -> tuple[float, float | None]:
    """(median seconds, peak GiB on CUDA) of ``run`` after one warm-up call."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    run()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.startswith("cuda") \
        else None
    return statistics.median(times), peak


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error)


def backend_rows(args) -> None:
    """Which fused attention backends take the attention's shapes: queries and keys of
    9C/r channels, values of 9C (whole, or in chunks as wide as the queries), float32 and
    bfloat16; "yes", or the first words of the backend's refusal."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"flash": SDPBackend.FLASH_ATTENTION, "memory-efficient":
                SDPBackend.EFFICIENT_ATTENTION, "cuDNN": SDPBackend.CUDNN_ATTENTION}
    print("\n| fused backend | block | dtype | values whole | values in chunks |\n"
          "|---|---|---|---|---|")
    for block, (embed, value) in {"paper (r=2)": (288, 576), "shipped (r=4)": (144, 576)}.items():
        for dtype in (torch.float32, torch.bfloat16):
            q = torch.randn(1, 1, 256, embed, device=args.device, dtype=dtype)
            v = torch.randn(1, 1, 256, value, device=args.device, dtype=dtype)
            for name, backend in backends.items():
                cells = []
                for chunk in (value, embed):   # forward and backward, as training runs it
                    try:
                        with sdpa_kernel([backend]), warnings.catch_warnings():
                            warnings.simplefilter("ignore", UserWarning)   # the error says enough
                            queries = q.clone().requires_grad_(True)
                            out = torch.cat([F.scaled_dot_product_attention(queries, queries,
                                                                            part)
                                             for part in v.split(chunk, dim=-1)], dim=-1)
                            out.sum().backward()
                        cells.append("yes")
                    except RuntimeError as error:
                        first = " ".join(str(error).split()).split(". ")[0]
                        cells.append(f"no: {first[:60]}")
                print(f"| {name} | {block} | {str(dtype).replace('torch.', '')} | "
                      f"{cells[0]} | {cells[1]} |", flush=True)


def attention_rows(args, clock: Clock) -> None:
    device, repeats = args.device, 1 if args.quick else 3
    use_float32_products("tf32", device)
    modules = {"panet, fused (sdpa)": lambda: PyramidAttention(64, 2, kernel="sdpa"),
               "panet, block kernel": lambda: PyramidAttention(64, 2, kernel="blockwise")}
    if args.authors_code:
        modules["authors"] = lambda: authors_module(args.authors_code)
    print("\n| attention, whole image | implementation | time | peak memory | rate | "
          "share of TF32 peak |\n|---|---|---|---|---|---|")
    peak = card_peak(device, "tf32")
    for label, make in modules.items():
        last = None
        for size in args.sizes:
            # a doubled side costs about 16 times the attention's time
            if last is not None and not clock.fits(16 * last * (repeats + 1)):
                print(f"| {size}² | {label} | skipped (time) | | | |", flush=True)
                continue
            torch.manual_seed(0)
            try:
                module = make().to(device).eval()
                x = torch.randn(1, 64, size, size, device=device)
                with torch.no_grad():
                    seconds, memory = timed(lambda: module(x), device, repeats)
            except (RuntimeError, MemoryError) as error:
                if not _out_of_memory(error):
                    raise
                print(f"| {size}² | {label} | out of memory | | | |", flush=True)
                last = None
                continue
            finally:
                module = x = None
            last = seconds
            rate = attention_flops(size) / seconds
            print(f"| {size}² | {label} | {seconds * 1e3:.1f} ms | "
                  f"{f'{memory:.2f} GiB' if memory is not None else '-'} | "
                  f"{_rate(rate)} | {f'{rate / peak:.0%}' if peak else '-'} |", flush=True)


def step_flops(model: torch.nn.Module, batch: int, size: int, device: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = torch.rand(batch, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimiser, data, data, None)
    return float(counter.get_total_flops())


def _step_parts(model: torch.nn.Module, precision: str, batch: int, patch: int, device: str):
    """The autocast dtype (with the float32 products set for ``precision``), an optimiser
    as ``panet train`` makes it (fused Adam on a GPU) and a random batch of crops."""
    dtype = autocast_dtype(precision, device)
    use_float32_products(precision, device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4,
                                 fused=True if device.startswith("cuda") else None)
    data = tuple(torch.rand(batch, 3, patch, patch, device=device) for _ in range(2))
    return dtype, optimiser, data


def training_rows(args, clock: Clock) -> None:
    device = args.device
    # "auto" runs the fused kernel on CUDA; the shipped models were trained with the block
    # kernel there, so the shipped architecture is timed on both
    nets = {"shipped (PANet-S, light attention)": ("panet-s", SHIPPED, "auto"),
            "shipped, block kernel": ("panet-s", SHIPPED, "blockwise"),
            "paper's PANet": ("panet", {}, "auto")}
    print("\n| training | batch | precision | iterations/s | rate | share of peak |\n"
          "|---|---|---|---|---|---|")
    for label, (name, options, kernel) in nets.items():
        for batch in args.batches:
            torch.manual_seed(0)
            model = create_model(name, **options).to(device)
            set_attention_kernel(model, kernel)
            flops = step_flops(model, batch, args.patch, device)
            for precision in args.precisions:
                if not clock.fits(2.0 if not args.quick else 0.5):
                    print(f"| {label} | {batch} | {precision} | skipped (time) | | |")
                    continue
                dtype, optimiser, data = _step_parts(model, precision, batch, args.patch, device)
                try:
                    seconds, _ = timed(lambda: train_step(model, optimiser, *data, dtype),
                                       device, args.steps)
                except (RuntimeError, MemoryError) as error:
                    if not _out_of_memory(error):
                        raise
                    print(f"| {label} | {batch} | {precision} | out of memory | | |")
                    continue
                peak = card_peak(device, precision)
                rate = flops / seconds
                print(f"| {label} | {batch} | {precision} | {1 / seconds:.2f} | "
                      f"{_rate(rate)} | {f'{rate / peak:.0%}' if peak else '-'} |", flush=True)
            model = None
    if args.compile != "off":
        compiled_rows(args)


def compiled_rows(args) -> None:
    """The shipped architecture's step with its network compiled (``train.compile``)."""
    device, batch = args.device, max(args.batches)
    label = "shipped (PANet-S, light attention)"
    for precision in ("tf32", "bf16"):
        torch.manual_seed(0)
        model = create_model("panet-s", **SHIPPED).to(device)
        flops = step_flops(model, batch, args.patch, device)
        net = torch.compile(model, mode=args.compile, dynamic=False)
        dtype, optimiser, data = _step_parts(model, precision, batch, args.patch, device)

        def step() -> None:
            if args.compile == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()
            train_step(net, optimiser, *data, dtype)

        started = time.perf_counter()
        try:
            for _ in range(3):   # compilation, then the CUDA graphs' recording
                step()
            _sync(device)
            compiling = time.perf_counter() - started
            seconds, _ = timed(step, device, args.steps)
        except (RuntimeError, MemoryError) as error:
            if not _out_of_memory(error):
                raise
            print(f"| {label}, {args.compile} compile | {batch} | {precision} | "
                  "out of memory | | |", flush=True)
            continue
        peak = card_peak(device, precision)
        rate = flops / seconds
        print(f"| {label}, {args.compile} compile ({compiling:.0f} s) | {batch} | {precision} | "
              f"{1 / seconds:.2f} | {_rate(rate)} | {f'{rate / peak:.0%}' if peak else '-'} |",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and batches: a smoke run of every row")
    parser.add_argument("--authors-code", help="DN_RGB/code folder of the authors' repository")
    parser.add_argument("--budget", type=float, default=110, help="seconds for all rows")
    parser.add_argument("--sizes", dest="sizes_given", type=int, nargs="+",
                        help="attention image sides instead of the defaults")
    parser.add_argument("--attention-only", action="store_true", help="no training rows")
    parser.add_argument("--compile", default="off", choices=COMPILE_MODES,
                        help="add compiled training rows in this torch.compile mode")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.batches, args.patch, args.steps = [16, 24], [2], 16, 1
    else:
        args.sizes, args.batches, args.patch, args.steps = [128, 256, 512, 1024], [16, 32], \
            48, 5
    args.sizes = args.sizes_given or args.sizes
    args.precisions = ["fp32", "tf32", "bf16"]
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("error: --device cuda, but PyTorch sees no CUDA device", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True
    print(f"{describe_machine()}; torch {torch.__version__}; device {args.device}")
    clock = Clock(args.budget)
    backend_rows(args)
    attention_rows(args, clock)
    if not args.attention_only:
        training_rows(args, clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
