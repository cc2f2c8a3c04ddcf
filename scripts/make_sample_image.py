# Procedural test picture: repeated structures at several scales (what pyramid attention exploits).
import numpy as np
from PIL import Image
h, w = 96, 128
yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
img = np.zeros((h, w, 3))
img[..., 0] = 0.55 + 0.35 * xx / w
img[..., 1] = 0.35 + 0.40 * yy / h
img[..., 2] = 0.75 - 0.45 * (xx + yy) / (w + h)
# bricks
brick = ((yy // 8) % 2 == 0) ^ (((xx + 8 * ((yy // 8) % 2)) // 16) % 2 == 0)
mortar = ((yy % 8) == 0) | (((xx + 8 * ((yy // 8) % 2)) % 16) == 0)
sel = yy > 60
img[sel & brick] *= np.array([0.85, 0.55, 0.45])
img[sel & mortar] = np.array([0.85, 0.85, 0.8])
# discs at three scales
for cx, cy, r, c in [(20, 20, 12, (0.9, 0.8, 0.2)), (50, 18, 8, (0.9, 0.8, 0.2)),
                     (72, 16, 5, (0.9, 0.8, 0.2)), (88, 15, 3, (0.9, 0.8, 0.2)),
                     (105, 35, 14, (0.2, 0.5, 0.85)), (100, 52, 6, (0.2, 0.5, 0.85))]:
    d = np.hypot(xx - cx, yy - cy)
    a = np.clip(r + 0.5 - d, 0, 1)[..., None]
    img = img * (1 - a) + a * np.array(c)
# stripes
sel = (yy > 36) & (yy < 56) & (xx < 70)
img[sel] *= (0.75 + 0.25 * np.sin(xx[sel] * 2 * np.pi / (4 + xx[sel] / 12)))[..., None]
Image.fromarray(np.clip(np.round(img * 255), 0, 255).astype(np.uint8)).save("panet/assets/sample.png", optimize=True)
