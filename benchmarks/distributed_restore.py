"""Wall time of ``panet restore`` on a folder: one process against ``torchrun`` workers.

    python benchmarks/distributed_restore.py [--images 8] [--size 192] [--workers 2] \
        [--model denoise-color]

Writes ``--images`` random photos of ``--size``² into a temporary folder and restores them
with a shipped model (or a weights file): once with one process and one thread, once with
``torchrun --standalone --nproc_per_node N`` (one thread each, as torchrun sets), and once
with one process and N threads. Each time is the whole command, start-up included, and
the outputs of the runs are checked to be bit-identical where the thread count is equal.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _run(command: list[str], threads: int) -> float:
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=environment)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr.decode()[-2000:]}")
    return seconds


def _files(folder: str) -> dict[str, bytes]:
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="denoise-color",
                        help="shipped model name or weights file")
    args = parser.parse_args()

    from panet.hardware import describe_machine
    from panet.io import save_image

    root = tempfile.mkdtemp(prefix="panet-distributed-")
    photos = os.path.join(root, "photos")
    os.makedirs(photos)
    rng = np.random.default_rng(0)
    for index in range(args.images):
        save_image(os.path.join(photos, f"{index:03d}.png"),
                   rng.random((args.size, args.size, 3)))
    restore = ["-m", "panet.cli", "restore", photos, "--task", "denoise", "--model",
               args.model, "--quiet", "-o"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", str(args.workers)]
    runs = {"1 process, 1 thread": ([sys.executable] + restore + [f"{root}/one"], 1),
            f"{args.workers} torchrun workers, 1 thread each":
                (launch + restore + [f"{root}/workers"], 1),
            f"1 process, {args.workers} threads":
                ([sys.executable] + restore + [f"{root}/threads"], args.workers)}
    print(f"{describe_machine()}; {args.images} images of {args.size}x{args.size}, "
          f"model {args.model}")
    seconds = {}
    for label, (command, threads) in runs.items():
        seconds[label] = _run(command, threads)
        print(f"{label:<32} {seconds[label]:7.1f} s", flush=True)
    assert _files(f"{root}/one") == _files(f"{root}/workers"), "outputs differ"
    base = seconds["1 process, 1 thread"]
    for label, value in seconds.items():
        print(f"speed-up of {label}: {base / value:.2f}x")


if __name__ == "__main__":
    main()
