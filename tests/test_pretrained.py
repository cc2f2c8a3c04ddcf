"""Shipped weights: lookup by task, scale and name, and their use as the default model."""

import pytest
import torch

from panet import create_model, save_model
from panet import pretrained
from panet.pretrained import PretrainedEntry, default_for
from panet.restore import resolve_model

ENTRIES = [PretrainedEntry("den", "denoise", "den.safetensors", "colour denoiser"),
           PretrainedEntry("den-gray", "denoise", "gray.safetensors", "gray", channels=1),
           PretrainedEntry("sr4", "sr", "sr4.safetensors", "x4", scale=4),
           PretrainedEntry("gone", "demosaic", "missing.safetensors", "file absent")]


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
    assert "RANDOM" not in captured.err and "pa_edsr (default)" in captured.out
    assert main(["restore", str(folder / "a.png"), "-o", str(tmp_path / "d.png"), "--task",
                 "denoise", "--quiet"]) == 0
    assert "RANDOM" not in capsys.readouterr().err
