"""Shipped weights: lookup by task, scale and name, and their use as the default model."""

from pathlib import Path

import pytest
import torch
import yaml

from panet import create_model, save_model
from panet import pretrained
from panet.inference import model_tiling, preferred_overlap, restore_pixels
from panet.pretrained import PretrainedEntry, default_for, resolve_model
from panet.tasks import get_task

ENTRIES = [PretrainedEntry("den", "panet-s", "denoise", "den.safetensors", "colour denoiser"),
           PretrainedEntry("den-gray", "panet-s", "denoise-gray", "gray.safetensors", "gray"),
           PretrainedEntry("sr4", "pa-edsr-x4", "sr", "sr4.safetensors", "x4"),
           PretrainedEntry("gone", "panet-s", "demosaic", "missing.safetensors", "file absent")]


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("PANET_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(pretrained, "PRETRAINED", ENTRIES)
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), tmp_path / "den.safetensors")
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8, in_channels=1),
               tmp_path / "gray.safetensors")
    save_model(create_model("pa-edsr-x4", n_resblocks=2, n_feats=8, reduction=2),
               tmp_path / "sr4.safetensors")
    return tmp_path


def test_lookup_by_task_scale_and_channels(shipped):
    assert default_for("denoise").name == "den"
    assert default_for("denoise", channels=1).name == "den-gray"
    assert default_for("sr", 4).name == "sr4"
    assert default_for("sr", 2) is None
    assert default_for("demosaic") is None          # listed, but its file is absent
    assert [e.name for e in pretrained.available()] == ["den", "den-gray", "sr4"]


def test_resolve_model_prefers_shipped_weights(shipped):
    model, random_weights = resolve_model(None, "denoise")
    assert not random_weights and model.config["n_feats"] == 8
    again, _ = resolve_model("den", "denoise")
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    model, random_weights = resolve_model(None, "demosaic")   # nothing shipped: registry
    assert random_weights
    model, random_weights = resolve_model(None, "sr", 4)
    assert not random_weights and model.scale == 4


def test_a_colour_jpeg_entry_takes_its_luma_from_another_and_needs_its_file(tmp_path,
                                                                          monkeypatch):
    import numpy as np

    from panet.metrics import rgb_to_y
    from panet.models.composite import LumaChromaJPEG

    entries = [PretrainedEntry("jc", "panet-s", "jpeg-color", "jc.safetensors", "colour",
                               luma_from="jy"),
               PretrainedEntry("jy", "panet-s", "jpeg", "jy.safetensors", "Y")]
    monkeypatch.setenv("PANET_WEIGHTS", str(tmp_path))
    monkeypatch.setattr(pretrained, "PRETRAINED", entries)
    torch.manual_seed(0)
    colour = create_model("panet-s", n_resblocks=1, n_feats=8)
    luma = create_model("panet-s", n_resblocks=1, n_feats=8, in_channels=1)
    save_model(colour, tmp_path / "jc.safetensors")
    assert default_for("jpeg") is None                 # its luma model's file is absent
    save_model(luma, tmp_path / "jy.safetensors")
    assert default_for("jpeg").name == "jc" and default_for("jpeg", channels=1).name == "jy"
    model, _ = resolve_model(None, "jpeg", channels=3)
    assert isinstance(model, LumaChromaJPEG)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        out, alone = model(x), colour.eval()(x)
        # independent: Matlab's BT.601 Y of the input, restored by the luma network alone
        y_in = rgb_to_y(x[0].permute(1, 2, 0).double().numpy() * 255) / 255
        y_net = luma.eval()(torch.from_numpy(y_in).permute(2, 0, 1)[None].float())
    y_out = rgb_to_y(out[0].permute(1, 2, 0).double().numpy() * 255) / 255
    assert np.abs(y_out[..., 0] - y_net[0, 0].double().numpy()).max() < 1e-5
    # what changes is grey (the same on R, G and B): the colour network's chroma is kept
    change = (out - alone)[0]
    assert (change - change[:1]).abs().max() < 1e-5 and change.abs().max() > 1e-3
    # a grey picture in three channels comes out grey: the luma network's output alone
    grey = x[:, 1:2].expand(1, 3, 24, 24)
    with torch.no_grad():
        out = model(grey)
        y_net = luma(16 / 255 + grey[:, :1] * 219 / 255)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    assert (out[:, :1] - (y_net * 255 - 16) / 219).abs().max() < 1e-5


def test_eval_and_restore_default_to_shipped_weights(shipped, tmp_path, capsys):
    import numpy as np

    from panet.cli import main
    from panet.io import save_image

    folder = tmp_path / "images"
    folder.mkdir()
    save_image(folder / "a.png", np.random.default_rng(0).random((32, 32, 3)))
    assert main(["eval", "--task", "sr", "--levels", "4", "--dataset", str(folder),
                 "--baselines", "none", "--crop", "8", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "RANDOM" not in captured.err and "sr4" in captured.out   # the shipped name
    assert main(["restore", str(folder / "a.png"), "-o", str(tmp_path / "d.png"), "--task",
                 "denoise", "--quiet"]) == 0
    assert "RANDOM" not in capsys.readouterr().err


def test_restore_picks_the_gray_or_colour_shipped_model_per_image(shipped, tmp_path, capsys):
    import numpy as np

    from panet.cli import main
    from panet.io import save_image

    rng = np.random.default_rng(1)
    save_image(tmp_path / "colour.png", rng.random((20, 20, 3)))
    save_image(tmp_path / "gray.png", rng.random((20, 20, 1)))
    assert main(["restore", str(tmp_path / "colour.png"), str(tmp_path / "gray.png"),
                 "-o", str(tmp_path / "out"), "--task", "denoise"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("colour.png" in line and "shipped model den;" in line for line in lines)
    assert any("gray.png" in line and "shipped model den-gray;" in line for line in lines)


# ---- the weights that ship in the package -----------------------------------------------

REAL = pretrained.PRETRAINED


@pytest.mark.parametrize("entry", REAL, ids=[e.name for e in REAL])
def test_every_shipped_file_is_present_and_describes_its_task(entry):
    import json

    from panet.models import model_card

    from panet.models.composite import LumaChromaJPEG

    shipped = pretrained.load_pretrained(entry)
    assert model_card(shipped).family == entry.family
    assert model_card(shipped).shipped_name == entry.name
    assert isinstance(shipped, LumaChromaJPEG) == (entry.luma_from is not None)
    if entry.luma_from is not None:   # the file holds the chroma network; luma is another's
        assert model_card(shipped.luma).shipped_name == entry.luma_from
        assert model_card(shipped.luma).gray_y and model_card(shipped.luma).in_channels == 1
    model = shipped.colour if entry.luma_from is not None else shipped
    task = json.loads(model.metadata["task"])
    assert task["type"] == entry.family        # the entry's task is of the file's family
    assert model.head[0].in_channels == entry.channels
    if entry.family == "sr":
        assert task["scale"] == entry.scale == model.scale
    if entry.family == "jpeg":                 # the gray model is the Y-channel one
        assert task["gray_y"] == (entry.channels == 1) == model_card(model).gray_y
    card = json.loads(model.metadata["card"])
    assert card["iterations"] == sum(stage["iterations"] for stage in card["stages"]) > 0
    # restored in tiles no larger than the training crop, overlapping by less than a tile
    with open(Path(__file__).parents[1] / card["config"], encoding="utf-8") as handle:
        patch = yaml.safe_load(handle)["data"]["patch_size"]
    card_of = model_card(model)
    assert 32 <= card_of.restore_tile <= patch == 48
    assert 0 <= preferred_overlap(model, card_of.restore_tile) < card_of.restore_tile
    assert next(model.parameters()).dtype == torch.float32   # stored as float16


def _sample_case(task, level):
    """The bundled picture degraded for ``task``: (degraded, clean)."""
    import numpy as np

    from panet.data.datasets import Demosaic, Denoise, JPEGArtifacts, SuperResolution
    from panet.io import read_image, sample_image_path

    degradation = {"denoise": lambda: Denoise(level), "demosaic": lambda: Demosaic(level),
                   "jpeg": lambda: JPEGArtifacts(level, gray_y=True),
                   "sr": lambda: SuperResolution(level)}[task]()
    clean = read_image(sample_image_path())
    if task == "sr":   # cut to a multiple of the scale
        clean = clean[:clean.shape[0] - clean.shape[0] % level,
                      :clean.shape[1] - clean.shape[1] % level]
    return degradation(clean, np.random.default_rng(0))


@pytest.mark.parametrize("task,level,margin", [
    ("denoise", 25.0, 3.0),    # measured +4.2 dB over the noisy input
    ("denoise", 50.0, 6.0),
])
def test_shipped_denoiser_restores_the_sample(task, level, margin):
    """The shipped colour denoiser beats its noisy input by a clear margin (and is blind:
    one model for both levels)."""
    from panet.metrics import psnr

    degraded, clean = _sample_case(task, level)
    model, _ = resolve_model(None, task)
    spec = get_task(task)
    restored, _ = restore_pixels(model, degraded, task=spec,
                                 tiling=model_tiling(model, spec, 48, 8))
    assert psnr(restored, clean) > psnr(degraded, clean) + margin


def test_shipped_gray_denoiser_is_chosen_for_gray_images_and_restores():
    from panet.data.datasets import to_gray
    from panet.metrics import psnr

    import numpy as np

    from panet.data.datasets import Denoise
    from panet.io import read_image, sample_image_path

    clean = to_gray(read_image(sample_image_path()))
    degraded, clean = Denoise(30.0)(clean, np.random.default_rng(0))
    model, _ = resolve_model(None, "denoise", channels=1)
    assert model.card.shipped_name == "denoise-gray"
    task = get_task("denoise").for_channels(1)
    restored, _ = restore_pixels(model, degraded, task=task,
                                 tiling=model_tiling(model, task, 48, 8))
    assert psnr(restored, clean) > psnr(degraded, clean) + 3.0


def test_shipped_demosaicer_beats_bilinear_interpolation_on_every_pattern():
    """Against an independent classical method (colour-demosaicing's bilinear), for each
    Bayer pattern: the model was trained on RGGB, the others are shifted onto it."""
    import numpy as np
    from colour_demosaicing import demosaicing_CFA_Bayer_bilinear

    from panet.metrics import psnr

    model, _ = resolve_model(None, "demosaic")
    task = get_task("demosaic")
    for pattern in ("RGGB", "BGGR", "GRBG", "GBRG"):
        mosaic, clean = _sample_case("demosaic", pattern)
        bilinear = np.clip(demosaicing_CFA_Bayer_bilinear(mosaic.sum(axis=2), pattern), 0, 1)
        restored, _ = restore_pixels(model, mosaic, task=task, pattern=pattern,
                                     tiling=model_tiling(model, task, 48, 8))
        assert psnr(restored, clean) > psnr(bilinear, clean) + 1.0, pattern


# Gains of the shipped SR models over bicubic on offline-mini (docs/models.md: x2 33.09 vs
# 32.29, x3 29.80 vs 29.27, x4 27.93 vs 27.58 dB): the test asks for half of each.
OFFLINE_MINI_SR_GAIN = {2: 0.80, 3: 0.53, 4: 0.35}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_super_resolution_beats_bicubic_at_every_scale(scale):
    """Crops of three real photos that scikit-image ships: the mean gain over bicubic
    (Y, shave = scale) is at least half the gain measured on offline-mini (on these
    crops: 0.39-0.84 dB at x2, 0.25-0.57 at x3, 0.24-0.33 at x4)."""
    import numpy as np
    import skimage.data

    from panet.data.datasets import SuperResolution
    from panet.degradations import imresize
    from panet.metrics import psnr

    model, _ = resolve_model(None, "sr", scale)
    task = get_task("sr")
    gains = []
    for photo in ("astronaut", "coffee", "chelsea"):
        crop = np.asarray(getattr(skimage.data, photo)(), np.float32)[100:292, 100:292] / 255
        low, clean = SuperResolution(scale)(crop, np.random.default_rng(0))
        restored, _ = restore_pixels(model, low, task=task,
                                     tiling=model_tiling(model, task, 48, 8))
        bicubic = np.clip(imresize(low, scale), 0, 1)
        assert restored.shape == clean.shape
        gains.append(psnr(restored, clean, y=True, shave=scale) -
                     psnr(bicubic, clean, y=True, shave=scale))
    assert np.mean(gains) >= OFFLINE_MINI_SR_GAIN[scale] / 2, gains


def test_eval_denoise_gray_scores_the_shipped_gray_model_on_gray_images(tmp_path, capsys):
    """The eval task turns test images gray, picks the gray shipped model by name and runs
    it as a denoiser (under both protocols)."""
    import json

    import numpy as np

    from panet.cli import main
    from panet.io import read_image, sample_image_path, save_image

    folder = tmp_path / "images"
    folder.mkdir()
    save_image(folder / "a.png", read_image(sample_image_path()))
    for protocol in ("paper", "default"):
        out = tmp_path / protocol
        assert main(["eval", "--task", "denoise-gray", "--levels", "30", "--dataset",
                     str(folder), "--baselines", "input", "--protocol", protocol, "--out",
                     str(out), "--quiet"]) == 0
        means = {m["method"]: m["psnr"] for m in
                 json.loads((out / "results.json").read_text())["means"]}
        assert set(means) == {"input", "denoise-gray"}
        assert means["denoise-gray"] > means["input"] + 3.0
        scores = json.loads((out / "results.json").read_text())["scores"]
        assert all(np.isfinite(s["psnr"]) for s in scores)
