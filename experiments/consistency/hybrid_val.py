"""Run: python experiments/consistency/hybrid_val.py 10,20,40 .devpack/val (validation photos, 256-px crops).
Experiment on the validation photos: colour JPEG with luma from jpeg-y vs jpeg-color alone,
and jpeg-y luma with the decoder's chroma (the pair by hand, before LumaChromaJPEG and its
grey rule existed; on a grey photo the rule gives the "yonly" column)."""
import sys, json, os, numpy as np, torch
torch.set_num_threads(1)
from panet.tasks import get_task
from panet.data.datasets import RestorationDataset, find_images
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import load_pretrained
from panet.degradations.jpeg_constraint import _JFIF_LUMA
paths = find_images(sys.argv[2])
spec = get_task("jpeg-color")
mc = load_pretrained("jpeg-color"); my = load_pretrained("jpeg-y")
mc = getattr(mc, "colour", mc)   # the shipped entry is now the pair: its colour network alone
y_task = get_task("jpeg")   # the Y-channel task of jpeg-y (one channel)
res = {}
for q in [int(x) for x in sys.argv[1].split(",")]:
    data = RestorationDataset(paths, spec.degradation(q), patch_size=256, channels=3, train=False, seed=0, cache=False)
    for i in range(len(paths)):
        d, c = (t.numpy().transpose(1, 2, 0) for t in data[i])
        col, _ = restore_pixels(mc, d, task=spec, pattern=str(q), tiling=model_tiling(mc, spec, 48, 8))
        Yd = (d @ _JFIF_LUMA).astype(np.float32)[..., None]
        ys, _ = restore_pixels(my, ((16 + 219 * Yd) / 255).astype(np.float32), task=y_task, pattern=str(q), tiling=model_tiling(my, y_task, 48, 8))
        ys = (ys * 255 - 16) / 219
        out = {"input": d, "color": col,
               "hybrid": np.clip(col + (ys[..., 0] - col @ _JFIF_LUMA)[..., None], 0, 1),
               "yonly": np.clip(d + (ys[..., 0] - d @ _JFIF_LUMA)[..., None], 0, 1)}
        for k, v in out.items():
            res.setdefault(f"q{q}-{k}", []).append(psnr(v, c))
        print(q, os.path.basename(paths[i]), {k: round(res[f"q{q}-{k}"][-1], 2) for k in out}, flush=True)
print(json.dumps({k: float(np.mean(v)) for k, v in res.items()}, indent=1))
