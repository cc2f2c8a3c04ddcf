"""Run: python experiments/consistency/other_shrinks.py 2 .devpack/val 256 (validation photos).
SR consistency assumes the input was shrunk by the Matlab bicubic resize the models were
trained for. Here the input is shrunk otherwise too (Pillow's area average and its
antialiased bilinear, both to 8 bits), and the shipped model's output is scored on Y
(shave = scale) without and with the consistency step, beside bicubic upscaling."""
import os
import sys

import numpy as np
import torch
from PIL import Image

from panet.data.datasets import find_images
from panet.degradations import imresize
from panet.io import read_image
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import load_pretrained
from panet.tasks import get_task

torch.set_num_threads(1)
scale, paths, crop = int(sys.argv[1]), find_images(sys.argv[2]), int(sys.argv[3])
model, task = load_pretrained(f"sr-x{scale}"), get_task("sr")


def pillow_shrink(clean: np.ndarray, method) -> np.ndarray:
    levels = Image.fromarray(np.round(clean * 255).astype(np.uint8))
    small = levels.resize((clean.shape[1] // scale, clean.shape[0] // scale), method)
    return np.asarray(small, np.float32) / 255


scores: dict[str, list[float]] = {}
for path in paths:
    image = read_image(path)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
    clean = image[top:top + crop, left:left + crop].astype(np.float32)
    shrinks = {"matlab-bicubic": task.degradation(scale)(clean, np.random.default_rng(0))[0],
               "pillow-box": pillow_shrink(clean, Image.BOX),
               "pillow-bilinear": pillow_shrink(clean, Image.BILINEAR)}
    for name, low in shrinks.items():
        outputs = {"bicubic": np.clip(imresize(low, scale), 0, 1)}
        for consistent in (False, True):
            outputs[f"net{'+consistency' if consistent else ''}"] = restore_pixels(
                model, low, task=task, pattern=str(scale),
                tiling=model_tiling(model, task, 48, 8),
                consistent=consistent)[0]
        for method, out in outputs.items():
            scores.setdefault(f"{name} {method}", []).append(
                psnr(out, clean, y=True, shave=scale))
    print(os.path.basename(path), flush=True)
for key, values in scores.items():
    print(f"{key}: {np.mean(values):.2f} dB")
