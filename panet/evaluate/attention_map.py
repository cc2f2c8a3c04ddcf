"""Where pyramid attention looks for one query pixel, drawn per pyramid level (the paper's
Figure 8). Only the layers before the chosen attention block run, and only one row of its
score matrix is computed, so whole photos work."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from panet.attention import attention_blocks

__all__ = ["attention_blocks", "query_attention", "attention_map_figure"]


class _Captured(Exception):
    """Stops the forward pass once the attention block's input is known."""


@torch.no_grad()
def query_attention(model: nn.Module, image: torch.Tensor, row: int, column: int,
                    block: int = 0) -> list[torch.Tensor]:
    """Per-level weight maps of attention block ``block`` for the query at image pixel
    (``row``, ``column``); ``image`` is 1 x C x H x W in [0, 1]. The networks keep the
    input's resolution up to their attention, so pixel and feature positions coincide.

    >>> from panet.models import create_model
    >>> net = create_model("panet-s").eval()
    >>> maps = query_attention(net, torch.rand(1, 3, 24, 20), 5, 7)
    >>> len(maps), tuple(maps[0].shape)
    (5, (24, 20))
    """
    blocks = attention_blocks(model)
    if not blocks:
        raise ValueError("this model has no pyramid attention block")
    if not 0 <= block < len(blocks):
        raise ValueError(f"the model has {len(blocks)} attention block(s); --block {block} "
                         "does not exist")
    captured: list[torch.Tensor] = []

    def grab(_module, inputs):
        captured.append(inputs[0])
        raise _Captured

    handle = blocks[block].register_forward_pre_hook(grab)
    try:
        model(image)
    except _Captured:
        pass
    finally:
        handle.remove()
    features = captured[0]
    if features.shape[-2:] != image.shape[-2:]:
        raise ValueError("the attention features do not have the image's size; positions "
                         "cannot be mapped")
    return blocks[block].attention_weights(features, row, column)


def attention_map_figure(image: np.ndarray, maps: list[torch.Tensor], row: int, column: int,
                         scales: tuple[float, ...], path: str, title: str = "") -> None:
    """PNG: the image with the query marked, then one heat map per pyramid level over a
    gray copy of the image, titled with the level's scale and its share of the weight.
    Without matplotlib: :class:`~panet.evaluate.methods.MissingPackage`, one line."""
    from panet.evaluate.figures import pyplot
    from panet.files import atomic_output

    plt = pyplot("drawing the attention map")

    height, width = image.shape[:2]
    gray = image.mean(axis=2)
    figure, axes = plt.subplots(1, len(maps) + 1, figsize=(3.0 * (len(maps) + 1), 3.4),
                                squeeze=False)
    shown = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    axes[0, 0].imshow(np.clip(shown, 0, 1))
    axes[0, 0].plot([column], [row], marker="+", color="red", markersize=14, mew=2)
    axes[0, 0].set_title(f"query ({column}, {row})", fontsize=9)
    for index, (weights, scale) in enumerate(zip(maps, scales), start=1):
        values = weights.float().numpy()
        ax = axes[0, index]
        ax.imshow(gray, cmap="gray", extent=(0, width, height, 0))
        # the level's map covers the whole image (its pixels are 1/scale image pixels)
        ax.imshow(values / max(values.max(), 1e-12), cmap="inferno", alpha=0.7,
                  extent=(0, width, height, 0), interpolation="nearest")
        ax.plot([column], [row], marker="+", color="cyan", markersize=10, mew=1.5)
        ax.set_title(f"level ×{scale:g}: {100 * values.sum():.1f}% of weight", fontsize=9)
    for ax in axes[0]:
        ax.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
