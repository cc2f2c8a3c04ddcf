"""`panet train`: configs, presets, sharding, DDP equivalence, kill-and-resume."""

import json
import os
import time

import numpy as np
import pytest
import torch
import yaml

from panet.cli import main
from panet.models import create_model
from panet.train.config import ConfigError, apply_overrides, build_config
from panet.train.loop import make_task, shard_indices, train_step
from panet.train.presets import PRESETS, preset


def _tiny(images, out=None, **train):
    raw = {"model": {"name": "panet-s", "options": {"n_resblocks": 2, "n_feats": 8}},
           "task": {"type": "denoise", "sigma": 30},
           "data": {"train": str(images), "val": str(images), "patch_size": 12,
                    "val_patch_size": 24, "repeat": 8, "workers": 0},
           "train": {"iterations": 12, "batch_size": 2, "log_every": 1, "val_every": 4,
                     "save_every": 1, "keep_last": 2, "threads": 1, **train}}
    if out:
        path = os.path.join(out, "tiny.yaml")
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as handle:
            yaml.safe_dump(raw, handle)
        return path
    return raw


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds(name):
    config = build_config(preset(name))
    assert config.optim.lr == 1e-4 and config.train.batch_size == 16
    assert config.data.patch_size == 48 and config.optim.decay_every == 200_000
    model = create_model(config.model.name, **config.model.options)
    expected = 1 if config.task.type == "jpeg" else 3
    assert model.head[0].in_channels == expected
    make_task(config)


def test_bad_configs_are_refused_with_the_valid_keys():
    with pytest.raises(ConfigError, match="valid keys of train: iterations, batch_size"):
        build_config({"train": {"iters": 5}})
    with pytest.raises(ConfigError, match="must be an integer"):
        build_config({"train": {"batch_size": "16"}})
    with pytest.raises(ConfigError, match="valid sections"):
        build_config({"trainer": {}})
    with pytest.raises(ConfigError, match="must be true or false"):
        build_config({"task": {"clip": "yes"}})
    assert build_config(apply_overrides({}, ["optim.lr=2e-4"])).optim.lr == 2e-4


def test_cli_refuses_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "panet-s", "--set", "train.itres=3", "--out", str(out)]) == 2
    assert "valid keys of train" in capsys.readouterr().err
    assert not out.exists()
    assert main(["train", "no-such-preset"]) == 2
    assert main(["train", "--list"]) == 0
    assert "ablation-pre-mid-post" in capsys.readouterr().out


def test_shards_split_each_global_batch_whatever_the_number_of_ranks():
    one = shard_indices(11, 0, 7, 0, 1, batch=6)
    assert len(one) == 6 and len(set(one)) == 6          # one global batch; 5 left over
    shards = [shard_indices(11, 0, 7, rank, 3, batch=2) for rank in range(3)]
    # rank r holds the r-th pair of the one process's batch
    assert [index for shard in shards for index in shard] == one
    two = [shard_indices(20, 3, 7, rank, 2, batch=2) for rank in range(2)]
    single = shard_indices(20, 3, 7, 0, 1, batch=4)
    for k in range(5):                                   # batch k of one process
        assert two[0][2 * k:2 * k + 2] + two[1][2 * k:2 * k + 2] == single[4 * k:4 * k + 4]
    assert shard_indices(20, 4, 7, 0, 1, batch=4) != single   # reshuffled per epoch


def _ddp_worker(rank, world, init_file, batch, out_file):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}",
                                         rank=rank, world_size=world)
    torch.manual_seed(0)
    model = create_model("panet-s", n_resblocks=2, n_feats=8)
    net = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    half = batch[0].shape[0] // world
    train_step(net, optimizer, batch[0][rank * half:(rank + 1) * half],
               batch[1][rank * half:(rank + 1) * half], None)
    if rank == 0:
        torch.save([p.detach() for p in model.parameters()], out_file)
    # both ranks leave together: twice in a row on 2026-11-28 rank 1 aborted in gloo
    # ("terminate called without an active exception"), probably tearing its group down
    # while rank 0 was still saving (not reproduced in 25 runs since)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_equal_one_process_with_the_double_batch(tmp_path):
    torch.manual_seed(1)
    batch = (torch.rand(4, 3, 12, 12), torch.rand(4, 3, 12, 12))
    torch.multiprocessing.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), batch,
                                                   str(tmp_path / "ddp.pt")), nprocs=2)
    torch.manual_seed(0)
    model = create_model("panet-s", n_resblocks=2, n_feats=8)
    train_step(model, torch.optim.Adam(model.parameters(), lr=1e-3), *batch, None)
    for ddp, single in zip(torch.load(tmp_path / "ddp.pt"), model.parameters()):
        assert torch.allclose(ddp, single.detach(), atol=1e-6)


def test_warm_start_inserts_attention_that_starts_as_the_identity(tmp_path):
    from panet.train.warm_start import warm_start

    torch.manual_seed(0)
    backbone = create_model("panet-s", n_resblocks=4, n_feats=8, attention_positions=[])
    for parameter in backbone.parameters():   # not the initial values: "trained" weights
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    full = create_model("panet-s", n_resblocks=4, n_feats=8, reduction=4, scales=[1.0, 0.5])
    assert warm_start(full, backbone) == ["body.2 (attention, value projection zeroed)"]
    x = torch.rand(2, 3, 15, 13)
    torch.testing.assert_close(full(x), backbone(x), atol=1e-6, rtol=1e-5)
    again = create_model("panet-s", n_resblocks=4, n_feats=8, reduction=4, scales=[1.0, 0.5])
    assert warm_start(again, full) == []          # same family with attention: plain copy
    torch.testing.assert_close(again(x), full(x))
    with pytest.raises(ValueError, match="differ in depth"):
        warm_start(create_model("panet-s", n_resblocks=3, n_feats=8), backbone)
    with pytest.raises(ValueError, match="does not match"):
        warm_start(create_model("panet-s", n_resblocks=4, n_feats=16), backbone)


def test_init_from_must_be_a_file():
    from panet.train.config import build_config

    with pytest.raises(ConfigError, match="init_from"):
        build_config({"model": {"init_from": "/no/such.safetensors"}})


def test_init_from_a_training_checkpoint(tmp_path):
    from panet.train.warm_start import load_source

    model = create_model("panet-s", n_resblocks=2, n_feats=8, attention_positions=[])
    path = str(tmp_path / "iter-000000010.pt")
    torch.save({"model": model.state_dict(),
                "config": {"model": {"name": "panet-s", "options": {
                    "n_resblocks": 2, "n_feats": 8, "attention_positions": []}}}}, path)
    loaded = load_source(path)
    x = torch.rand(1, 3, 9, 9)
    torch.testing.assert_close(loaded(x), model(x))
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a panet training checkpoint"):
        load_source(str(tmp_path / "other.pt"))


def test_a_training_checkpoint_can_be_restored_with(tmp_path):
    from panet.pretrained import resolve_model

    model = create_model("panet-s", n_resblocks=2, n_feats=8)
    path = str(tmp_path / "iter-000000003.pt")
    torch.save({"model": model.state_dict(), "iteration": 3, "optimizer": {},
                "config": {"model": {"name": "panet-s",
                                     "options": {"n_resblocks": 2, "n_feats": 8}}}}, path)
    loaded, random_weights = resolve_model(path, "denoise")
    x = torch.rand(1, 3, 10, 10)
    assert not random_weights
    torch.testing.assert_close(loaded(x), model.eval()(x))


def _lines(out):
    with open(os.path.join(out, "metrics.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def test_cosine_schedule_follows_the_formula_with_warm_up(tmp_path, images):
    from panet.train.config import build_config
    from panet.train.loop import Trainer

    raw = _tiny(images, iterations=10, val_every=100, save_every=100)
    raw["optim"] = {"lr": 0.001, "schedule": "cosine", "warmup": 4}
    Trainer(build_config(raw), str(tmp_path), progress=False).run()
    rates = {r["iteration"]: r["lr"] for r in _lines(tmp_path) if "lr" in r}
    # the rate logged at iteration k is the one step k used: progress (k - 1) / 10, ramped
    # by k / 4 during the warm-up
    for k in range(1, 11):
        cosine = 0.001 * 0.5 * (1 + np.cos(np.pi * (k - 1) / 10))
        assert rates[k] == pytest.approx(cosine * min(1.0, k / 4), rel=1e-9)
    assert rates[1] == pytest.approx(0.00025) and rates[10] < 0.00003


def test_time_limit_stops_the_run_and_exports(tmp_path, images):
    from panet.checkpoints.native import read_metadata
    from panet.train.config import build_config
    from panet.train.loop import Trainer

    raw = _tiny(images, iterations=1_000_000, time_limit=1.5, val_every=100_000,
                save_every=100_000)
    trainer = Trainer(build_config(raw), str(tmp_path), progress=False)
    started = time.perf_counter()
    weights = trainer.run()
    assert time.perf_counter() - started < 60
    done = trainer.position.iteration
    assert 0 < done < 1_000_000 and trainer.position.seconds >= 1.5
    metadata = read_metadata(weights)
    assert int(metadata["iterations"]) == done and int(metadata["train_seconds"]) >= 1
    last = _lines(tmp_path)[-1]   # a run stopped by its time limit is still validated
    from panet import load_model
    from panet.train.loop import validation_psnr

    assert last["iteration"] == done   # ... and the score is that of the exported weights
    assert last["val_psnr"] == pytest.approx(
        validation_psnr(load_model(weights), build_config(raw)), abs=1e-9)
    # a resumed run whose time is spent stops at once, where it was
    again = Trainer(build_config(raw), str(tmp_path), resume=True, progress=False)
    assert again.position.seconds == pytest.approx(trainer.position.seconds)
    again.run()
    assert again.position.iteration == done


@pytest.mark.parametrize("section,key,value,message", [
    ("optim", "schedule", "linear", "optim.schedule must be step or cosine"),
    ("train", "time_limit", -1, "train.time_limit must be 0"),
    ("train", "ema", 1.0, "train.ema must be from 0"),
    ("train", "ema", -0.1, "train.ema must be from 0"),
])
def test_bad_schedule_and_time_limit_are_refused(section, key, value, message):
    from panet.train.config import build_config

    with pytest.raises(ConfigError, match=message):
        build_config({section: {key: value}})


@pytest.mark.parametrize("path", sorted(
    os.path.join(os.path.dirname(__file__), "..", "configs", "shipped", name)
    for name in os.listdir(os.path.join(os.path.dirname(__file__), "..", "configs", "shipped"))))
def test_shipped_configs_build_and_match_their_weights(path, monkeypatch):
    """Each configs/shipped file builds, and its model is the architecture of the shipped
    weights made from it (the cards point at these files)."""
    from panet.models import create_model as build
    from panet.pretrained import PRETRAINED, load_pretrained

    monkeypatch.chdir(os.path.join(os.path.dirname(__file__), ".."))   # their paths start there

    with open(path) as handle:
        config = build_config(yaml.safe_load(handle))
    name = os.path.splitext(os.path.basename(path))[0]
    entry = next(e for e in PRETRAINED if e.name == name)
    shipped = load_pretrained(entry)
    if entry.luma_from is not None:   # the config trains the file's (chroma) network
        shipped = shipped.colour
    fresh = build(config.model.name, **config.model.options)
    assert fresh.config == shipped.config


def test_device_pipeline_trains_and_resumes_exactly(tmp_path, images):
    """data.pipeline=device (here on the CPU): a run stopped after 3 iterations and resumed
    ends with the weights of a run that went straight to 6 (batch k depends on the seed and
    k alone)."""
    from panet.train.config import build_config
    from panet.train.loop import Trainer

    raw = _tiny(images, iterations=6, val_every=100, save_every=3)
    raw["data"]["pipeline"] = "device"
    straight = Trainer(build_config(raw), str(tmp_path / "a"), progress=False)
    straight.run()
    half = {**raw, "train": {**raw["train"], "iterations": 3}}
    Trainer(build_config(half), str(tmp_path / "b"), progress=False).run()
    resumed = Trainer(build_config(raw), str(tmp_path / "b"), resume=True, progress=False)
    assert resumed.position.iteration == 3
    resumed.run()
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    losses = [r["loss"] for r in _lines(tmp_path / "a") if "loss" in r]
    assert len(losses) == 6 and all(np.isfinite(losses))
    with pytest.raises(ConfigError, match="data.pipeline must be loader or device"):
        build_config({"data": {"pipeline": "gpu"}})


def test_warm_started_run_validates_before_its_first_step(tmp_path, images):
    from panet.train.config import build_config
    from panet.train.loop import Trainer, validation_psnr
    from panet.train.warm_start import load_source

    raw = _tiny(images, iterations=2, val_every=100, save_every=100)
    first = Trainer(build_config(raw), str(tmp_path / "a"), progress=False).run()
    raw["model"]["init_from"] = first
    Trainer(build_config(raw), str(tmp_path / "b"), progress=False).run()
    start = _lines(tmp_path / "b")[0]
    assert start["iteration"] == 0
    assert start["val_psnr"] == pytest.approx(validation_psnr(load_source(first),
                                                              build_config(raw)), abs=1e-6)


def test_the_loop_trains_parts_of_your_own(images, tmp_path):
    """A network, optimiser and loss that panet does not know, run by panet's loop from
    parts built for the configuration: the loss is the one given, the weights change, and
    validation, logs and the exported weights work."""
    import safetensors.torch

    from panet.train.loop import Distribution, Trainer, build_parts

    config = build_config(_tiny(images, iterations=4, val_every=2))
    place = Distribution.from_environment(config)
    parts = build_parts(config, place)
    torch.manual_seed(0)
    parts.model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                      torch.nn.Conv2d(8, 3, 3, padding=1))
    parts.optimizer = torch.optim.SGD(parts.model.parameters(), lr=0.01)
    parts.scheduler = torch.optim.lr_scheduler.LambdaLR(parts.optimizer, lambda _: 1.0)
    calls = []

    def loss(restored, target):
        calls.append(restored.shape)
        return torch.nn.functional.mse_loss(restored, target)

    parts.loss = loss
    before = [p.detach().clone() for p in parts.model.parameters()]
    weights = Trainer(config, str(tmp_path / "run"), progress=False, parts=parts,
                      place=place).run()
    assert len(calls) == 4 and calls[0] == (2, 3, 12, 12)
    assert any(not torch.equal(a, b) for a, b in zip(before, parts.model.parameters()))
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["iteration"] for r in records if "val_psnr" in r] == [2, 4]
    stored = safetensors.torch.load_file(weights)
    assert torch.equal(stored["0.weight"], parts.model[0].weight)


def test_ema_validates_and_exports_the_moving_average_of_the_weights(tmp_path, images):
    """train.ema = d: after step k the average is a_1 = w_1, a_k = d a_(k-1) + (1 - d) w_k,
    computed here by hand from a run without it (same seed, same weights w_k, one
    checkpoint per step). The average is what the run validates, exports and hands on as a
    checkpoint; training itself is untouched."""
    from panet import load_model
    from panet.checkpoints import load_training_checkpoint
    from panet.train.config import build_config
    from panet.train.loop import Trainer, validation_psnr

    decay = 0.6
    raw = _tiny(images, iterations=3, val_every=100, save_every=1, keep_last=10)
    plain = Trainer(build_config(raw), str(tmp_path / "plain"), progress=False)
    plain.run()
    steps = [torch.load(tmp_path / "plain" / "checkpoints" / f"iter-{k:09d}.pt",
                        weights_only=True)["model"] for k in (1, 2, 3)]
    expected = {name: steps[0][name].double() for name in steps[0]}
    for later in steps[1:]:
        expected = {name: decay * value + (1 - decay) * later[name].double()
                    for name, value in expected.items()}
    raw["train"]["ema"] = decay
    averaged = Trainer(build_config(raw), str(tmp_path / "ema"), progress=False)
    weights = averaged.run()
    for name, value in averaged.model.state_dict().items():   # training is untouched
        assert torch.equal(value, steps[-1][name])
    exported = load_model(weights).state_dict()
    handed_on = load_training_checkpoint(str(tmp_path / "ema" / "checkpoints" /
                                             "iter-000000003.pt")).state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(exported[name].double(), value, rtol=0, atol=1e-6)
        torch.testing.assert_close(handed_on[name].double(), value, rtol=0, atol=1e-6)
    assert not torch.equal(exported["tail.0.weight"], steps[-1]["tail.0.weight"])
    last = _lines(tmp_path / "ema")[-1]
    assert last["val_psnr"] == pytest.approx(
        validation_psnr(load_model(weights), build_config(raw)), abs=1e-9)


def test_ema_resumes_exactly(tmp_path, images):
    """A run with train.ema stopped after 3 iterations and resumed exports what a run that
    went straight to 6 exports: the average is in the checkpoints."""
    from panet.checkpoints.native import load_model
    from panet.train.config import build_config
    from panet.train.loop import Trainer

    raw = _tiny(images, iterations=6, val_every=100, save_every=3, ema=0.7)
    straight = load_model(Trainer(build_config(raw), str(tmp_path / "a"),
                                  progress=False).run()).state_dict()
    half = {**raw, "train": {**raw["train"], "iterations": 3}}
    Trainer(build_config(half), str(tmp_path / "b"), progress=False).run()
    resumed = Trainer(build_config(raw), str(tmp_path / "b"), resume=True, progress=False)
    resumed = load_model(resumed.run()).state_dict()
    for name, value in straight.items():
        assert torch.equal(value, resumed[name]), name


def test_validation_crops_do_not_depend_on_the_training_seed(images):
    """Stages trained with other seeds (other batches) are scored on the same noisy crops;
    a different degradation (sigma) does change the score, so the check can fail."""
    from panet.train.loop import validation_psnr

    model = create_model("panet-s", n_resblocks=1, n_feats=8).eval()
    raw = _tiny(images)
    raw["task"]["sigma"] = [10, 50]   # blind: each crop draws its own sigma
    scores = [validation_psnr(model, build_config(apply_overrides(raw, [f"train.seed={seed}"])))
              for seed in (0, 7)]
    assert scores[0] == scores[1]
    raw["task"]["sigma"] = 50
    assert validation_psnr(model, build_config(raw)) != scores[0]
