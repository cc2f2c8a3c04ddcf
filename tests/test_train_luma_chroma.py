"""Training the colour network of the two-part colour JPEG model (``model.luma_from``): the
loss and validation score the pair that ships, whose luma comes from a frozen Y network."""

import copy
import json
import os

import pytest
import torch

from panet.checkpoints import load_model, read_metadata, save_model
from panet.models import create_model
from panet.models.composite import LumaChromaJPEG
from panet.train.build import Distribution, build_parts
from panet.train.config import ConfigError, build_config
from panet.train.loop import Trainer, train_step, validation_psnr


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    """A tiny colour network and a tiny Y network, as weights files."""
    folder = tmp_path_factory.mktemp("pair")
    torch.manual_seed(1)
    colour = create_model("panet-s", n_feats=8, n_resblocks=2)
    luma = create_model("panet-s", in_channels=1, n_feats=8, n_resblocks=2)
    paths = str(folder / "colour.safetensors"), str(folder / "luma.safetensors")
    save_model(colour, paths[0])
    save_model(luma, paths[1])
    return paths


def _raw(images, colour, luma, **train):
    return {"model": {"name": "panet-s", "options": {"n_resblocks": 2, "n_feats": 8},
                      "init_from": colour, "luma_from": luma},
            "task": {"type": "jpeg", "quality": [10, 40], "gray_y": False},
            "data": {"train": str(images), "val": str(images), "patch_size": 16,
                     "val_patch_size": 32, "repeat": 8, "workers": 0},
            "train": {"iterations": 2, "batch_size": 2, "log_every": 1, "val_every": 100,
                      "save_every": 100, "threads": 1, **train}}


def test_luma_from_is_checked(images, pair_files, tmp_path):
    colour, luma = pair_files
    with pytest.raises(ConfigError, match="model.luma_from: .* is not a file"):
        build_config(_raw(images, colour, str(tmp_path / "missing.safetensors")))
    raw = _raw(images, colour, luma)
    raw["task"] = {"type": "denoise", "sigma": 30}
    with pytest.raises(ConfigError, match="model.luma_from is for colour JPEG"):
        build_config(raw)
    raw = _raw(images, colour, luma)
    raw["task"]["gray_y"] = True
    with pytest.raises(ConfigError, match="model.luma_from is for colour JPEG"):
        build_config(raw)
    config = build_config(_raw(images, colour, colour))   # a colour network as the luma
    with pytest.raises(ConfigError, match="model.luma_from: .*1-channel luma model"):
        build_parts(config, Distribution.from_environment(config))


def test_the_loss_sees_only_the_chroma(images, pair_files):
    """Shifting R, G and B of the colour network's output by the same amount changes its
    luma alone (JPEG's luma weights sum to 1), which the pair replaces: the loss through the
    pair stays the same, the loss of the network alone does not."""
    config = build_config(_raw(images, *pair_files))
    parts = build_parts(config, Distribution.from_environment(config))
    shifted = copy.deepcopy(parts.model)
    with torch.no_grad():
        shifted.tail[0].bias += 0.05
    torch.manual_seed(0)
    degraded, target = (torch.stack(t) for t in zip(*[parts.train_set[i] for i in range(2)]))

    def loss(model, compose):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        return float(train_step(model, optimizer, degraded, target, None, None,
                                compose=compose))

    assert loss(shifted, parts.compose) == pytest.approx(loss(parts.model, parts.compose),
                                                         abs=1e-6)
    assert abs(loss(shifted, None) - loss(parts.model, None)) > 1e-3


def test_pair_training_validates_the_pair_and_exports_the_colour_network(images, pair_files,
                                                                          tmp_path):
    colour, luma = pair_files
    config = build_config(_raw(images, colour, luma))
    trainer = Trainer(config, str(tmp_path / "run"), progress=False)
    frozen = {k: v.clone() for k, v in load_model(luma).state_dict().items()}
    weights = trainer.run()
    with open(os.path.join(tmp_path, "run", "metrics.jsonl")) as handle:
        start = [json.loads(line) for line in handle if '"val_psnr"' in line][0]
    pair = LumaChromaJPEG(load_model(colour), load_model(luma))
    expected = validation_psnr(pair, config)
    assert start["iteration"] == 0 and start["val_psnr"] == pytest.approx(expected, abs=1e-6)
    assert abs(validation_psnr(load_model(colour), config) - expected) > 0.1
    exported = load_model(weights)   # the colour network alone, as the shipped file holds
    assert read_metadata(weights)["trained_with_luma_from"] == luma
    assert exported.card.in_channels == 3 and not isinstance(exported, LumaChromaJPEG)
    assert any(not torch.equal(a, b) for a, b in zip(exported.state_dict().values(),
                                                      load_model(colour).state_dict().values()))
    used = trainer.parts.compose.__self__.luma   # the luma network the run trained beside
    assert not any(p.requires_grad or p.grad is not None for p in used.parameters())
    assert all(torch.equal(used.state_dict()[k], v) for k, v in frozen.items())


def test_a_run_resumes_only_as_it_was_scored(images, pair_files, tmp_path):
    """A run trained without the pair cannot be resumed with it (or the other way round):
    its validation PSNR, and the best checkpoint, would change meaning half-way."""
    colour, luma = pair_files
    raw = _raw(images, colour, "", save_every=1)
    Trainer(build_config(raw), str(tmp_path / "run"), progress=False).run()
    with pytest.raises(ConfigError, match="resume with model.luma_from as the run had it: none"):
        Trainer(build_config(_raw(images, colour, luma, iterations=4)), str(tmp_path / "run"),
                resume=True, progress=False)
    resumed = Trainer(build_config(_raw(images, colour, "", iterations=4)),
                      str(tmp_path / "run"), resume=True, progress=False)
    assert resumed.position.iteration == 2
