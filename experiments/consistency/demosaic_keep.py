"""Run: python experiments/consistency/demosaic_keep.py .devpack/val 256 (validation photos).
Experiment: demosaic output with the mosaic's own samples put back."""
import sys, os, numpy as np, torch
torch.set_num_threads(1)
from panet.tasks import get_task
from panet.data.datasets import RestorationDataset, find_images
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import load_pretrained
from panet.degradations.mosaic import bayer_masks
paths = find_images(sys.argv[1]); crop = int(sys.argv[2])
spec = get_task("demosaic"); model = load_pretrained("demosaic")
data = RestorationDataset(paths, spec.degradation("RGGB"), patch_size=crop, channels=3, train=False, seed=0, cache=False)
res = {}
for i in range(len(paths)):
    m, c = (t.numpy().transpose(1, 2, 0) for t in data[i])
    out, _ = restore_pixels(model, m, task=spec, pattern="RGGB", tiling=model_tiling(model, spec, 48, 8))
    mask = bayer_masks(*m.shape[:2], "RGGB")
    mask = mask if mask.shape == m.shape else np.moveaxis(mask, 0, -1)
    kept = np.where(mask > 0, m, out)
    for k, v in {"net": out, "kept": kept}.items():
        res.setdefault(k, []).append(psnr(v, c))
    print(os.path.basename(paths[i]), {k: round(v[-1], 3) for k, v in res.items()}, flush=True)
print({k: round(float(np.mean(v)), 3) for k, v in res.items()})
