"""Run: python experiments/consistency/backproj.py 2,4 .devpack/val 128 (validation photos).
Experiment: SR output projected onto {x : bicubic_down(x) = LR} (exact, separable)."""
import sys, os, numpy as np, torch
torch.set_num_threads(1)
from panet.tasks import get_task
from panet.data.datasets import RestorationDataset, find_images
from panet.metrics import psnr
from panet.inference import model_tiling, restore_pixels
from panet.pretrained import load_pretrained
from panet.degradations.resize import project_onto_downscale
paths = find_images(sys.argv[2]); crop = int(sys.argv[3])
for s in [int(x) for x in sys.argv[1].split(",")]:
    spec = get_task("sr"); model = load_pretrained(f"sr-x{s}")
    data = RestorationDataset(paths, spec.degradation(s), patch_size=crop, channels=3, train=False, seed=0, cache=False)
    res = {}
    for i in range(len(paths)):
        lr, hr = (t.numpy().transpose(1, 2, 0) for t in data[i])
        out, _ = restore_pixels(model, lr, task=spec, pattern=str(s), tiling=model_tiling(model, spec, 48, 8))
        out = out.astype(np.float64)
        proj = project_onto_downscale(out, lr, s)
        for k, v in {"net": out, "proj": proj}.items():
            res.setdefault(k, []).append(psnr(v, hr, y=True, shave=s))
        print(s, os.path.basename(paths[i]), {k: round(v[-1], 3) for k, v in res.items()}, flush=True)
    print(s, {k: round(float(np.mean(v)), 3) for k, v in res.items()})
