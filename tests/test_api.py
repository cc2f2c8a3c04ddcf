"""The one-call Python API: ``panet.restore``, ``panet.load_pretrained``,
``panet.list_pretrained`` and the torch.hub entries.

``panet.restore`` must give the pixels ``panet restore`` writes (the same model choice,
tiling, budget and consistency), return what it was given, and refuse bad input with a
one-line ValueError/TypeError."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import panet
from panet.cli import main
from panet.io import load_image, save_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _picture(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * rows + c) * np.cos(4 * cols - c) for c in range(channels)], -1)
    return np.clip(0.5 + 0.3 * base + rng.normal(0, 0.08, base.shape), 0, 1).astype(np.float32)


def _cli(tmp_path, name, pixels, args, *, alpha=None, bit_depth=8):
    """What ``panet restore`` writes for ``pixels`` saved as ``name``: the decoded output
    and the input as the file holds it (the array a user would pass)."""
    source, target = str(tmp_path / name), str(tmp_path / ("out-" + name))
    save_image(source, pixels, alpha=alpha, bit_depth=bit_depth)
    assert main(["restore", source, "-o", target, "--quiet", *args]) == 0
    return source, target


@pytest.mark.parametrize("name, channels, depth, args, call", [
    ("colour.png", 3, 8, ["--task", "denoise"], dict(task="denoise")),
    ("gray16.png", 1, 16, ["--task", "denoise", "--sigma", "20"], dict(task="denoise", level=20)),
    ("mosaic.png", 3, 8, ["--task", "demosaic", "--pattern", "GRBG"],
     dict(task="demosaic", level="GRBG")),
    ("small.png", 3, 8, ["--task", "sr", "--scale", "3"], dict(task="sr", level=3)),
])
def test_restore_gives_the_pixels_panet_restore_writes(tmp_path, name, channels, depth, args,
                                                       call):
    pixels = _picture(37, 45, channels)
    source, target = _cli(tmp_path, name, pixels, args, bit_depth=depth)
    raw = np.asarray(Image.open(source)) if depth == 8 else \
        (load_image(source).pixels[..., 0] * 65535).round().astype(np.uint16)
    restored = panet.restore(raw, **call)
    written = np.asarray(Image.open(target)) if depth == 8 else \
        (load_image(target).pixels[..., 0] * 65535).round().astype(np.uint16)
    assert restored.dtype == raw.dtype and restored.shape == written.shape
    assert np.array_equal(restored, written)


def test_restore_keeps_alpha_as_panet_restore_does(tmp_path):
    pixels, alpha = _picture(33, 40, 3), _picture(33, 40, 1, seed=5)
    source, target = _cli(tmp_path, "rgba.png", pixels, ["--task", "sr", "--scale", "2"],
                          alpha=alpha)
    rgba = np.asarray(Image.open(source))
    assert rgba.shape[2] == 4
    restored = panet.restore(rgba, "sr", 2)
    assert np.array_equal(restored, np.asarray(Image.open(target)))


def test_restore_returns_the_kind_it_was_given():
    gray = (_picture(30, 34, 1)[..., 0] * 255).round().astype(np.uint8)
    out = panet.restore(gray, "denoise", 15)
    assert out.shape == gray.shape and out.dtype == np.uint8
    floats = _picture(30, 34, 3).astype(np.float64)
    out = panet.restore(floats, "denoise")
    assert out.dtype == np.float64 and out.shape == floats.shape
    assert np.allclose(out.astype(np.float32), panet.restore(floats.astype(np.float32), "denoise"))
    picture = Image.fromarray((floats * 255).round().astype(np.uint8))
    restored = panet.restore(picture, "sr", 2)
    assert isinstance(restored, Image.Image) and restored.mode == "RGB"
    assert restored.size == (68, 60)
    assert np.array_equal(np.asarray(restored), panet.restore(np.asarray(picture), "sr", 2))


@pytest.mark.parametrize("shape", [(30, 34), (3, 30, 34), (2, 3, 30, 34), (1, 1, 30, 34)])
def test_restore_takes_tensors_in_their_layout(shape):
    tensor = torch.rand(*shape)
    out = panet.restore(tensor, "denoise", 10)
    assert out.shape == tensor.shape and out.dtype == tensor.dtype
    first = tensor.reshape(-1, 1 if len(shape) == 2 else shape[-3], *shape[-2:])[0]
    expected = panet.restore(first.permute(1, 2, 0).numpy(), "denoise", 10)
    got = out.reshape(-1, first.shape[0], *shape[-2:])[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("image, kind, words", [
    (np.full((20, 20, 3), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((0, 20, 3), np.uint8), ValueError, "shape"),
    (np.zeros((1, 1, 20, 20, 3), np.uint8), ValueError, "shape"),
    (np.zeros((20, 20, 5), np.uint8), ValueError, "channels"),
    (np.zeros((20, 20, 3), np.int32), TypeError, "int32"),
    (np.zeros((20, 20, 3), bool), TypeError, "bool"),
    (torch.zeros(1, 1, 3, 20, 20), ValueError, "shape"),
    (torch.zeros(3, 20, 20, dtype=torch.int64), TypeError, "int64"),
    ([[0.5] * 20] * 20, TypeError, "list"),
])
def test_restore_refuses_bad_images_in_one_line(image, kind, words):
    with pytest.raises(kind, match=words) as error:
        panet.restore(image, "denoise")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("call, words", [
    (dict(task="deblur"), "unknown task 'deblur'"),
    (dict(task="denoise", level=-3), "sigma.*0 to 255"),
    (dict(task="jpeg", level=500), "quality.*1 to 100"),
    (dict(task="jpeg", level="abc"), "quality: .abc. is not a number"),
    (dict(task="demosaic", level="RGBG"), "Bayer pattern"),
    (dict(task="sr", level=5), "x2, x3, x4"),
    (dict(task="denoise", model="no-such-model"), "unknown model 'no-such-model'"),
    (dict(task="denoise", model="sr-x2"), "does not fit task denoise"),
    (dict(task="denoise", tile=8), "tile must be at least 16"),
])
def test_restore_refuses_bad_choices(call, words):
    with pytest.raises(ValueError, match=words):
        panet.restore(np.zeros((20, 20, 3), np.uint8), **call)


def test_load_pretrained_gives_the_shipped_model_with_its_card():
    model = panet.load_pretrained("sr-x3")
    assert model.card.shipped_name == "sr-x3" and model.card.scale == 3
    assert not model.training
    cards = panet.list_pretrained()
    assert set(cards) == {"denoise-color", "denoise-gray", "demosaic", "jpeg-color", "jpeg-y",
                          "sr-x2", "sr-x3", "sr-x4"}
    assert cards["denoise-gray"].in_channels == 1 and cards["jpeg-y"].gray_y
    with pytest.raises(ValueError, match="no shipped model 'sr-x8'; shipped: denoise-color"):
        panet.load_pretrained("sr-x8")


def test_each_shipped_file_holds_its_registered_architecture():
    """The table names the registered model the file's network is: the file's
    configuration is that model's, but for the channels its task takes."""
    from panet.models import create_model
    from panet.pretrained import PRETRAINED

    for entry in PRETRAINED:
        shipped = panet.load_pretrained(entry.name)
        network = getattr(shipped, "colour", shipped)   # the colour JPEG pair: its own part
        channels = {} if entry.family == "sr" else {"in_channels": entry.channels}
        assert network.config == create_model(entry.model, **channels).config, entry.name
        assert shipped.card.family == entry.family and shipped.card.scale == entry.scale


def test_hub_entries_load_every_shipped_model():
    from panet.pretrained import PRETRAINED

    names = {entry.name.replace("-", "_") for entry in PRETRAINED}
    for name in names:
        model = torch.hub.load(ROOT, name, source="local", verbose=False)
        assert model.card.shipped_name == name.replace("_", "-")
    untrained = torch.hub.load(ROOT, "denoise_gray", source="local", pretrained=False,
                               verbose=False)
    assert untrained.config == panet.load_pretrained("denoise-gray").config
    assert not torch.equal(untrained.head[0].weight,
                           panet.load_pretrained("denoise-gray").head[0].weight)
