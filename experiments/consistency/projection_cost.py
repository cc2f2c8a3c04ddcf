"""Run: OMP_NUM_THREADS=1 python experiments/consistency/projection_cost.py [SIDE]
Time and extra memory of SR's consistency step (project_onto_downscale) on a SIDE x SIDE
RGB output (default 2048) and on a panorama of as many pixels (SIDE/4 x 4 SIDE), at x2 and
x4, laid out as restore_pixels has it (a channel-first buffer seen as H x W x C) and written
in place, as panet restore does. Memory is what tracemalloc sees numpy allocate beyond the
output itself, per output pixel."""
import itertools
import sys
import time
import tracemalloc

import numpy as np

from panet.degradations.resize import imresize, project_onto_downscale
from panet.hardware import describe_machine

side = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
print(f"RGB outputs; {describe_machine()}")
project_onto_downscale(np.zeros((8, 8, 1)), np.zeros((4, 4, 1)), 2)   # imports, once
for (height, width), scale in itertools.product([(side, side), (side // 4, 4 * side)], (2, 4)):
    buffer = np.random.default_rng(0).random((3, height, width), dtype=np.float32)
    restored = buffer.transpose(1, 2, 0)
    low = imresize(np.ascontiguousarray(restored), 1 / scale).astype(np.float32)
    for in_place in (True, False):
        tracemalloc.start()
        start = time.perf_counter()
        project_onto_downscale(restored, low, scale, in_place=in_place)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{height} x {width} x{scale} in_place={in_place}: "
              f"{seconds / (height * width / 1e6):.2f} s per output MP, "
              f"{peak / height / width:.1f} bytes per output pixel")
