"""The PNG of a run's loss and validation-PSNR curves, read from its metrics.jsonl, and
what a run says when the packages of its TensorBoard logs and curves are not installed
(they come with ``pip install "panet[train]"``; the base install restores images only)."""

from __future__ import annotations

import importlib
import json
import sys

from panet.files import atomic_output

__all__ = ["plot_curves", "missing_extras", "note_missing", "TRAIN_EXTRA"]

#: How to install the packages of the training extras.
TRAIN_EXTRA = 'pip install "panet[train]"'

# package -> (the module a run imports, what a run without the package does not write)
_EXTRAS = {"tensorboard": ("torch.utils.tensorboard", "TensorBoard logs"),
           "matplotlib": ("matplotlib", "curves.png")}
_noted = False


def missing_extras() -> list[str]:
    """The packages of TensorBoard logging and of curves.png that cannot be imported."""
    missing = []
    for package, (module, _) in _EXTRAS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def note_missing(missing: list[str]) -> None:
    """Say, once per process and in one line on stderr, what a run without the ``missing``
    packages leaves out and how to get them."""
    global _noted
    if not missing or _noted:
        return
    _noted = True
    names = " and ".join(missing)
    lacks = " and no ".join(_EXTRAS[package][1] for package in missing)
    print(f"panet: note: {names} {'is' if len(missing) == 1 else 'are'} not installed, so "
          f"this run writes metrics.jsonl but no {lacks}; to get them: {TRAIN_EXTRA}",
          file=sys.stderr, flush=True)


def plot_curves(metrics_path: str, png_path: str, title: str = "") -> None:
    """Draw training loss (log scale) and validation PSNR against iterations (needs
    matplotlib: an ImportError that says how to install it without)."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"curves.png needs matplotlib: {TRAIN_EXTRA}") from error

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
