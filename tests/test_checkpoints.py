"""The authors' checkpoint format, our safetensors format and `panet convert`."""

import os
import pickle
import subprocess
import sys

import pytest
import torch

import panet
from panet import CheckpointError, load_model, load_official_checkpoint, save_model
from panet.cli import main as cli_main

from official_format import make_official_state, official_forward, official_keys, read_key_list


def _save(state, tmp_path, name="official.pt"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_key_generator_matches_the_authors_lists(official_keys_dir):
    panet_list = read_key_list(os.path.join(official_keys_dir, "panet_denoise_color.txt"))
    assert official_keys("panet", 80, 64) == panet_list
    edsr_list = read_key_list(os.path.join(official_keys_dir, "paedsr_x2.txt"))
    assert official_keys("pa_edsr", 32, 256, scale=2) == edsr_list


@pytest.mark.parametrize("kind, n_resblocks, n_feats, kwargs, size", [
    ("panet", 80, 64, {}, (1, 3, 14, 11)),              # the released colour model
    ("panet", 4, 16, {"in_channels": 1, "out_channels": 1}, (2, 1, 9, 12)),
    ("panet", 8, 64, {}, (1, 3, 10, 10)),               # PANet-S
    ("pa_edsr", 32, 256, {"scale": 2}, (1, 3, 7, 6)),   # the released x2 model
    ("pa_edsr", 4, 32, {"scale": 3}, (1, 3, 8, 9)),
    ("pa_edsr", 4, 32, {"scale": 4}, (1, 3, 6, 7)),
])
def test_official_checkpoint_gives_the_spec_output(tmp_path, kind, n_resblocks, n_feats, kwargs, size):
    state = make_official_state(kind, n_resblocks, n_feats, **kwargs)
    model = load_official_checkpoint(_save(state, tmp_path))
    assert not model.training and next(model.parameters()).dtype == torch.float32
    x = torch.rand(size)
    with torch.no_grad():
        got = model(x)
    expected = official_forward(state, x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-4
    # Our own format gives identical outputs after a round trip.
    ours = tmp_path / "ours.safetensors"
    save_model(model, ours)
    with torch.no_grad():
        assert torch.equal(load_model(ours)(x), got)


@pytest.mark.parametrize("kind, kwargs, size", [
    ("panet", {"escape": 3.0}, (1, 3, 9, 10)),
    ("pa_edsr", {"scale": 2, "mean": (0.25, 0.5, 0.75), "escape": 3.0}, (1, 3, 7, 8)),
])
def test_mean_and_escape_nan_are_read_from_the_file(tmp_path, kind, kwargs, size):
    """Values other than the authors' defaults (DIV2K mean, escape_NaN 1e-4): the loaded
    model follows the file, and the values matter (the defaults give another output)."""
    state = make_official_state(kind, 4, 16, **kwargs)
    model = load_official_checkpoint(_save(state, tmp_path))
    x = torch.rand(size)
    with torch.no_grad():
        got = model(x)
    assert (got - official_forward(state, x)).abs().max() <= 1e-4
    defaults = make_official_state(kind, 4, 16, **{k: v for k, v in kwargs.items()
                                                     if k not in ("mean", "escape")})
    assert (official_forward(defaults, x) - got).abs().max() > 1e-2


def test_inferred_configuration(tmp_path):
    model = load_official_checkpoint(_save(make_official_state("panet", 6, 16, in_channels=1,
                                                               out_channels=1), tmp_path))
    assert model.config["n_resblocks"] == 6 and model.config["n_feats"] == 16
    assert model.config["in_channels"] == 1 and model.config["attention_positions"] == ["mid"]
    assert model.config["shared_prelu"] is True
    edsr = load_official_checkpoint(_save(make_official_state("pa_edsr", 4, 32, scale=4), tmp_path))
    assert edsr.config["scale"] == 4 and edsr.config["reduction"] == 8


def test_unshared_prelu_slopes_are_kept(tmp_path):
    state = make_official_state("panet", 4, 16)
    state["body.0.body.1.weight"] = torch.tensor([0.7])
    model = load_official_checkpoint(_save(state, tmp_path))
    assert model.config["shared_prelu"] is False
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert (model(x) - official_forward(state, x)).abs().max() <= 1e-4


def _corrupt(kind):
    state = make_official_state("panet", 4, 16)
    if kind == "unknown":
        state["body.1.extra.weight"] = torch.zeros(3)
    elif kind == "missing":
        del state["body.3.body.2.bias"]
    elif kind == "shape":
        state["tail.0.weight"] = torch.zeros(3, 16, 5, 5)
    elif kind == "twin":
        state = make_official_state("pa_edsr", 4, 32)
        state["msa.conv_match.0.bias"] = state["msa.conv_match.0.bias"] + 1
    return state


@pytest.mark.parametrize("kind, message", [("unknown", "unexpected key"),
                                           ("missing", "missing key"),
                                           ("shape", "has shape"),
                                           ("twin", "twin")])
def test_misfit_checkpoints_are_refused(tmp_path, kind, message):
    with pytest.raises(CheckpointError, match=message):
        load_official_checkpoint(_save(_corrupt(kind), tmp_path))


class Payload:
    """Unpickling this would call os.system: weights_only must refuse it."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unreadable_files_are_refused(tmp_path):
    good = _save(make_official_state("panet", 2, 8, reduction=2), tmp_path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = {truncated: "not a readable PyTorch checkpoint",
             _save([torch.zeros(1)], tmp_path, "list.pt"): "not a state dict",
             tmp_path / "absent.pt": "no such file"}
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cases[empty] = "empty"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as handle:
        pickle.dump({"head.0.weight": Payload()}, handle)
    cases[evil] = "refused: it holds code or objects other than tensors"
    for path, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            load_official_checkpoint(path)
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_wrapped_and_prefixed_state_dicts_load(tmp_path):
    state = make_official_state("panet", 2, 8, reduction=2)
    wrapped = {"state_dict": {"module." + k: v for k, v in state.items()}}
    model = load_official_checkpoint(_save(wrapped, tmp_path))
    assert model.config["n_resblocks"] == 2


def test_our_format_refuses_foreign_files(tmp_path):
    official = _save(make_official_state("panet", 2, 8, reduction=2), tmp_path)
    with pytest.raises(CheckpointError, match="panet convert"):
        load_model(official)
    from safetensors.torch import save_file
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not panet weights"):
        load_model(plain)
    model = panet.create_model("panet-s", n_resblocks=2)
    ours = tmp_path / "ours.safetensors"
    save_model(model, ours, {"trained_on": "nothing"})
    assert panet.checkpoints.read_metadata(ours)["trained_on"] == "nothing"
    data = ours.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "cut.safetensors")


def test_convert_command(tmp_path, capsys):
    official = _save(make_official_state("panet", 4, 16), tmp_path)
    out = tmp_path / "converted.safetensors"
    assert cli_main(["convert", str(official), str(out)]) == 0
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(load_model(out)(x), load_official_checkpoint(official)(x))
    assert cli_main(["convert", str(official), str(out)]) == 2          # exists
    assert "--overwrite" in capsys.readouterr().err
    assert cli_main(["convert", str(official), str(out), "--overwrite"]) == 0
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert cli_main(["convert", str(bad), str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()


def test_console_script_one_line_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "panet.cli", "convert",
                             str(tmp_path / "absent.pt"), str(tmp_path / "o.safetensors")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr


def test_loaded_weights_carry_their_training_metadata(tmp_path):
    from panet import create_model, load_model, save_model

    path = tmp_path / "m.safetensors"
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), path,
               {"task": '{"type": "demosaic", "pattern": "GRBG"}'})
    model = load_model(path)
    assert model.metadata["task"] == '{"type": "demosaic", "pattern": "GRBG"}'
    from panet.inference import trained_pattern

    assert trained_pattern(model) == "GRBG"
