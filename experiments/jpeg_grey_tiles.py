"""Run: python experiments/jpeg_grey_tiles.py (a validation photo, 256-px centre crop).
The two-part jpeg-color decides "grey input" per tile. Here the left half of a colour crop
is made exactly grey, JPEG-coded, and restored with the rule and without it (the colour
network's chroma everywhere): PSNR of each half, and the most colour (max - min of R, G, B,
in levels) left in the grey half."""
import numpy as np, torch
torch.set_num_threads(1)
from panet.io import read_image
from panet.degradations import jpeg_roundtrip
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import load_pretrained
from panet.tasks import get_task
import panet.models.composite as C
img = read_image(".devpack/val/plasma-workspace-wallpapers--Kite-0.png")
t, l = (img.shape[0]-256)//2, (img.shape[1]-256)//2
clean = img[t:t+256, l:l+256].astype(np.float32).copy()
y = clean @ np.array([0.299, 0.587, 0.114], np.float32)
clean[:, :128] = y[:, :128, None]          # left half exactly grey
pair = load_pretrained("jpeg-color")
task = get_task("jpeg-color")
tiling = model_tiling(pair, task, 48, 8)
for q in (10, 20):
    d = jpeg_roundtrip(clean, q).astype(np.float32)
    grey_in = np.abs(d[..., 0] - d[..., 1]).max(axis=0) < 0.5/255
    outs = {"input": d}
    outs["rule"] = restore_pixels(pair, d, task=task, pattern=str(q), tiling=tiling)[0]
    saved = C._GREY_SPREAD; C._GREY_SPREAD = -1.0
    outs["no-rule"] = restore_pixels(pair, d, task=task, pattern=str(q), tiling=tiling)[0]
    C._GREY_SPREAD = saved
    for k, v in outs.items():
        g = psnr(v[:, :120], clean[:, :120]); c = psnr(v[:, 136:], clean[:, 136:]); a = psnr(v, clean)
        spread = (v[:, :120].max(2) - v[:, :120].min(2)).max() * 255
        print(q, k, "grey half %.2f colour half %.2f all %.2f  max RGB spread in grey half %.1f levels" % (g, c, a, spread))
