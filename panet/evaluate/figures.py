"""Comparison figures like the paper's Figures 4-7: the ground truth, the degraded input
and every method side by side, each with a zoomed crop and its PSNR."""

from __future__ import annotations

import sys

import numpy as np

from panet.evaluate.methods import MissingPackage
from panet.evaluate.runner import TASKS, Evaluation
from panet.metrics import psnr

__all__ = ["zoom_box", "comparison_figure", "pyplot"]

_noted = False


def pyplot(what: str):
    """``matplotlib.pyplot`` on the file-only Agg backend; without matplotlib (the base
    install has none), :class:`MissingPackage` saying in one line how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise MissingPackage(f'{what} needs matplotlib, which is not installed: '
                             'pip install "panet[train]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def zoom_box(image: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window with the most detail (largest
    local variance), where restoration differences show best."""
    gray = image.mean(axis=2)
    height, width = gray.shape
    size = min(size, height, width)
    step = max(1, size // 4)
    best, corner = -1.0, (0, 0)
    for top in range(0, height - size + 1, step):
        for left in range(0, width - size + 1, step):
            value = float(gray[top:top + size, left:left + size].var())
            if value > best:
                best, corner = value, (top, left)
    return corner


def _show(image: np.ndarray) -> np.ndarray:
    image = np.clip(image, 0, 1)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def comparison_figure(result: Evaluation, dataset: str, level: str, path: str,
                      zoom: int | None = None) -> bool:
    """Write a PNG: one column per panel (ground truth, input, methods), the whole image
    above with the zoom window outlined, the zoomed crop below. Without matplotlib nothing
    is drawn, a one-line note (once) says how to get it, and the answer is False."""
    global _noted
    try:
        plt = pyplot("drawing the figures")
    except MissingPackage as error:
        if not _noted:
            print(f"panet: note: no figures (the tables are complete): {error}",
                  file=sys.stderr, flush=True)
            _noted = True
        return False
    from matplotlib.patches import Rectangle

    from panet.files import atomic_output

    spec = TASKS[result.task]
    images = result.figure_images[(dataset, level)]
    clean = images["clean"]
    shave = result.shaves.get(level, 0)
    panels = [("ground truth", clean, None)]
    degraded = images["degraded"]
    if degraded.shape[:2] != clean.shape[:2]:   # SR: show the LR input at full size
        factor = clean.shape[0] // degraded.shape[0]
        degraded = np.repeat(np.repeat(degraded, factor, 0), factor, 1)
        panels.append(("input (LR, nearest)", degraded, None))
    else:
        panels.append(("degraded input", degraded,
                       psnr(degraded, clean, y=spec.y) if spec.input_comparable else None))
    for method in result.methods:
        if method in images and images[method] is not images["degraded"]:
            panels.append((method, images[method],
                           psnr(images[method], clean, y=spec.y, shave=shave)))
    size = zoom or max(16, min(clean.shape[:2]) // 4)
    top, left = zoom_box(clean, size)
    columns = len(panels)
    figure, axes = plt.subplots(2, columns, figsize=(2.6 * columns, 5.4), squeeze=False)
    for column, (title, image, value) in enumerate(panels):
        shown = _show(image)
        axes[0, column].imshow(shown, cmap=None, interpolation="nearest")
        axes[0, column].add_patch(Rectangle((left, top), size, size, fill=False,
                                            edgecolor="red", linewidth=1.2))
        axes[0, column].set_title(title if value is None else f"{title}\n{value:.2f} dB",
                                  fontsize=9)
        axes[1, column].imshow(shown[top:top + size, left:left + size],
                               interpolation="nearest")
        for row in range(2):
            axes[row, column].set_axis_off()
    figure.suptitle(f"{spec.title}: {result.figure_names[(dataset, level)]} "
                    f"({dataset}, {level})", fontsize=10)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return True
