"""The PNG of a run's loss and validation-PSNR curves, read from its metrics.jsonl."""

from __future__ import annotations

import json

from panet.files import atomic_output

__all__ = ["plot_curves"]


def plot_curves(metrics_path: str, png_path: str, title: str = "") -> None:
    """Draw training loss (log scale) and validation PSNR against iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses, scores = [], []
    with open(metrics_path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if "loss" in record:
                losses.append((record["iteration"], record["loss"]))
            if "val_psnr" in record:
                scores.append((record["iteration"], record["val_psnr"]))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    if losses:
        left.plot(*zip(*losses), linewidth=0.8)
        left.set_yscale("log")
    left.set(xlabel="iteration", ylabel="L1 loss (training batch)", title="loss")
    if scores:
        right.plot(*zip(*scores), marker="o", markersize=3)
    right.set(xlabel="iteration", ylabel="PSNR (dB)", title="validation PSNR")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_output(png_path, suffix=".png") as partial:
        figure.savefig(partial, dpi=110, format="png")
    plt.close(figure)
