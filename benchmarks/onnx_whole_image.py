"""Whole images through an exported ONNX file in onnxruntime: time and peak memory.

    python benchmarks/onnx_whole_image.py [--model denoise-color] [--sizes 128,256,512]

Exports the model (or takes an ``.onnx`` file), then runs one random square image of each
size in a fresh process with onnxruntime's CPU provider and default settings, and prints
the wall time and the process's peak resident memory (Linux: VmHWM). Each size runs alone, so the peak
is that image's; the time is one run (attention over a whole image grows with the square
of its pixels: 512 x 512 takes minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile

CHILD = """
import sys, time, numpy as np, onnxruntime as ort
path, size = sys.argv[1], int(sys.argv[2])
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
channels = session.get_inputs()[0].shape[1]
x = np.random.default_rng(0).random((1, channels, size, size), dtype=np.float32)
start = time.perf_counter()
session.run(None, {session.get_inputs()[0].name: x})
seconds = time.perf_counter() - start
# VmHWM: this program's own peak (ru_maxrss would carry the forking parent's over exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(seconds, int(hwm) * 1024)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="denoise-color",
                        help="shipped name, panet weights file or .onnx file")
    parser.add_argument("--sizes", default="128,256,512", help="comma list of image sides")
    args = parser.parse_args()
    path = args.model
    if not path.endswith(".onnx"):
        from panet.checkpoints import load_model
        from panet.export import export_onnx
        from panet.pretrained import list_pretrained, load_pretrained

        model = load_pretrained(args.model) if args.model in list_pretrained() \
            else load_model(args.model)
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        export_onnx(model, path)
    print(f"{args.model}: onnxruntime CPU provider, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    print("| image | time | peak memory |\n|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, "-c", CHILD, path, str(size)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {size}² | failed: {done.stderr.strip().splitlines()[-1][:80]} | |")
            continue
        seconds, peak = done.stdout.split()
        print(f"| {size}² | {float(seconds):.1f} s | {int(peak) / 2**30:.2f} GiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
