"""The lent-GPU training script (scripts/train_on_device.py): what it starts from and which
models get a share of the budget. Its runs themselves are ``panet train`` (tested elsewhere)."""

import importlib.util
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _script(name: str):
    """scripts/NAME.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts",
                                                                     f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lease():
    return _script("train_on_device")


def test_a_second_call_goes_on_from_the_first_calls_weights_where_it_left_some(lease, tmp_path):
    os.makedirs(tmp_path / "demosaic")
    (tmp_path / "demosaic" / "model.safetensors").write_bytes(b"")
    assert lease.start_weights("demosaic", str(tmp_path)) == \
        str(tmp_path / "demosaic" / "model.safetensors")
    # a model the first call did not train starts from its shipped file, which exists
    shipped = lease.start_weights("sr-x3", str(tmp_path))
    assert os.path.samefile(shipped, os.path.join(ROOT, "panet", "weights", "sr-x3.safetensors"))
    assert os.path.samefile(lease.start_weights("demosaic", None),
                            os.path.join(ROOT, "panet", "weights", "demosaic.safetensors"))


def test_every_shipped_model_has_a_gap_and_small_shares_are_left_out(lease, monkeypatch):
    shipped = {f[:-len(".safetensors")] for f in os.listdir(os.path.join(ROOT, "panet", "weights"))
               if f.endswith(".safetensors")}
    assert set(lease.GAPS) == shipped
    for name, gap in {"demosaic": 1.0, "denoise-gray": 0.5, "sr-x3": 0.0}.items():
        monkeypatch.setitem(lease.GAPS, name, gap)
    # shares of 100 s: 62.5 and 31.25 (the 0.1 floor gives sr-x3 6.25), so only sr-x3 drops
    # below 20 s; at 40 s denoise-gray drops too, and demosaic then takes it all
    assert lease.kept_models(["demosaic", "denoise-gray", "sr-x3"], 100, 20) == \
        ["demosaic", "denoise-gray"]
    assert lease.kept_models(["demosaic", "denoise-gray", "sr-x3"], 100, 40) == ["demosaic"]
    # two shares under 25 s (23.5 and 17.6): the smaller goes first, which lifts the other
    # to 28.6 s, so it stays
    monkeypatch.setitem(lease.GAPS, "denoise-gray", 0.4)
    monkeypatch.setitem(lease.GAPS, "jpeg-y", 0.3)
    assert lease.kept_models(["demosaic", "denoise-gray", "jpeg-y"], 100, 25) == \
        ["demosaic", "denoise-gray"]


def test_a_model_close_to_its_target_gets_its_floor_in_a_long_call_only(lease, monkeypatch):
    """demosaic, 0.07 dB short, would get 520 * 0.1 / 0.97 = 54 s of a 520-s call by its gap
    (counted as at least 0.1 dB); its floor gives it 110 s there, the others sharing the rest
    by their gaps. A 225-s call is under 4 times the floor: no floor, and demosaic's 23 s
    leave it out. Nor does a floor take the time of a model further behind."""
    for name, gap in {"denoise-color": 0.46, "denoise-gray": 0.41, "demosaic": 0.07}.items():
        monkeypatch.setitem(lease.GAPS, name, gap)
    monkeypatch.setattr(lease, "FLOORS", {"demosaic": 110.0})
    names = ["denoise-color", "denoise-gray", "demosaic"]
    assert lease.kept_models(names, 520, 45) == names
    given = lease.shares(names, 520.0, 520.0)
    assert given["demosaic"] == 110.0
    assert given["denoise-color"] == pytest.approx(410 * 0.46 / 0.87)
    assert given["denoise-gray"] == pytest.approx(410 * 0.41 / 0.87)
    assert lease.kept_models(names, 225, 45) == ["denoise-color", "denoise-gray"]
    # the last model of a call takes what is left, never more
    assert lease.shares(["demosaic"], 80.0, 520.0) == {"demosaic": 80.0}
    # late in a call (earlier runs overran): the floor would leave gray under 45 s, so the
    # gaps decide (0.41 : 0.1) and the floor yields
    late = lease.shares(["denoise-gray", "demosaic"], 140.0, 520.0, min_share=45.0)
    assert late["denoise-gray"] == pytest.approx(140 * 0.41 / 0.51)
    assert lease.shares(["denoise-gray", "demosaic"], 160.0, 520.0,
                        min_share=45.0)["demosaic"] == 110.0
    # a floor below the gap's own share changes nothing
    monkeypatch.setitem(lease.GAPS, "demosaic", 0.9)
    given = lease.shares(names, 520.0, 520.0)
    assert given["demosaic"] == pytest.approx(520 * 0.9 / 1.77)
    monkeypatch.setattr(lease, "FLOORS", {})
    assert lease.shares(names, 520.0, 520.0) == given


@pytest.fixture(scope="module")
def curves():
    return _script("plot_learning_curves")


def test_a_stage_trained_as_the_pair_is_fitted_apart(curves, tmp_path):
    """The stages' iterations add up; a stage with model.luma_from validated the two-part
    model (a higher PSNR than the colour network's alone), so the fit keeps only the points
    scored as the last stage was, and branches never."""
    import json

    import yaml

    def stage(name, records, luma_from=""):
        os.makedirs(tmp_path / name)
        with open(tmp_path / name / "metrics.jsonl", "w") as handle:
            handle.writelines(json.dumps({"iteration": i, "val_psnr": p}) + "\n"
                              for i, p in records)
        with open(tmp_path / name / "config.yaml", "w") as handle:
            yaml.safe_dump({"model": {"name": "panet-s", "luma_from": luma_from}}, handle)

    stage("a", [(0, 30.0), (100, 31.0)])
    stage("b-branch", [(0, 31.0), (50, 31.5)])
    stage("c", [(0, 32.5), (40, 32.7)], luma_from="jpeg-y.safetensors")
    drawn = curves.curve([str(tmp_path / s) for s in ("a", "b-branch", "c")])
    assert [(i, s) for i, _, s in drawn] == [(0, "a"), (100, "a"), (100, "b-branch"),
                                             (150, "b-branch"), (100, "c (pair)"),
                                             (140, "c (pair)")]
    assert [(i, p) for i, p, _ in curves.fitted_points(drawn)] == [(100, 32.5), (140, 32.7)]
    assert [i for i, _, _ in curves.fitted_points(drawn[:4])] == [0, 100]


def test_a_stage_validated_on_other_levels_is_replaced_by_its_rescored_points(curves, tmp_path):
    """A run validates on the levels it trains on: a stage trained on a list of noise levels
    scored other noise than its configuration's, so its own records are drawn apart and left
    out of the fit, and its rescored.jsonl (the configuration's levels) stands in."""
    import json

    import yaml

    def write(path, records):
        with open(path, "w") as handle:
            handle.writelines(json.dumps({"iteration": i, "val_psnr": p}) + "\n"
                              for i, p in records)

    def stage(name, records, sigma, rescored=None):
        os.makedirs(tmp_path / name)
        write(tmp_path / name / "metrics.jsonl", records)
        with open(tmp_path / name / "config.yaml", "w") as handle:
            yaml.safe_dump({"task": {"type": "denoise", "sigma": sigma, "clip": True}}, handle)
        if rescored is not None:
            write(tmp_path / name / "rescored.jsonl", rescored)

    shipped = tmp_path / "shipped.yaml"
    shipped.write_text("task: {type: denoise, sigma: [0, 75], clip: true}\n")
    stage("a", [(0, 30.0), (100, 31.0)], [0, 75])
    stage("b", [(0, 33.0), (60, 32.0)], [0, 25, 25, 50], rescored=[(0, 31.0), (60, 31.2)])
    stage("c", [(0, 31.2), (30, 31.4)], [0, 75])
    folders = [str(tmp_path / s) for s in ("a", "b", "c")]
    drawn = curves.curve(folders, str(shipped))
    assert [(i, p, s) for i, p, s in drawn] == [
        (0, 30.0, "a"), (100, 31.0, "a"), (100, 33.0, "b (other levels)"),
        (160, 32.0, "b (other levels)"), (100, 31.0, "b (rescored)"), (160, 31.2, "b (rescored)"),
        (160, 31.2, "c"), (190, 31.4, "c")]
    assert [(i, p) for i, p, _ in curves.fitted_points(drawn)] == [
        (0, 30.0), (100, 31.0), (100, 31.0), (160, 31.2), (160, 31.2), (190, 31.4)]
    # without rescored points the stage still counts its iterations, and nothing of it is fitted
    os.remove(tmp_path / "b" / "rescored.jsonl")
    drawn = curves.curve(folders, str(shipped))
    assert [i for i, _, _ in curves.fitted_points(drawn)] == [0, 100, 160, 190]
    # without the shipped configuration every stage is taken as it is (the old behaviour)
    assert [s for _, _, s in curves.curve(folders)].count("b") == 2


def test_the_colour_jpeg_run_trains_beside_the_latest_luma_weights(lease, tmp_path):
    """jpeg-color trains as the pair with jpeg-y (model.luma_from): a second call pairs it
    with the jpeg-y weights the first call left, else with the shipped file, by a path
    that does not depend on where the script was started."""
    import argparse

    args = argparse.Namespace(out=str(tmp_path / "out"), init=str(tmp_path), lr_factor=0.5,
                              warmup=100, val_every=500, train="t", val="v", seed=1,
                              precision="tf32", attention_kernel="blockwise")

    def luma_of(name):
        command, info = lease.train_command(name, 100.0, args)
        given = [c.split("=", 1)[1] for c in command if c.startswith("model.luma_from=")]
        real = os.path.realpath
        assert [real(g) for g in given] == ([real(os.path.join(ROOT, info["luma_from"]))]
                                            if given else [])
        return given[0] if given else None

    assert luma_of("demosaic") is None
    assert os.path.samefile(luma_of("jpeg-color"),
                            os.path.join(ROOT, "panet", "weights", "jpeg-y.safetensors"))
    os.makedirs(tmp_path / "jpeg-y")
    (tmp_path / "jpeg-y" / "model.safetensors").write_bytes(b"")
    assert luma_of("jpeg-color") == str(tmp_path / "jpeg-y" / "model.safetensors")


def test_a_per_model_set_reaches_that_models_run_only_and_wins(lease, tmp_path):
    """``--set NAME:KEY=VALUE`` (a weighted level list for one model, say) is passed to that
    model's ``panet train`` after the script's own settings, and to no other model's."""
    import argparse

    args = argparse.Namespace(out=str(tmp_path), init=None, lr_factor=0.5, warmup=100,
                              val_every=500, train="t", val="v", seed=1, precision="tf32",
                              attention_kernel="blockwise", model_set=[lease.model_override("denoise-gray:task.sigma=[30,50]"),
                                         lease.model_override("denoise-gray:train.seed=7"),
                                         lease.model_override("denoise-gray:train.precision=bf16")])
    command, info = lease.train_command("denoise-gray", 100.0, args)
    sets = [command[i + 1] for i, c in enumerate(command) if c == "--set"]
    assert sets[-3:] == ["task.sigma=[30,50]", "train.seed=7", "train.precision=bf16"]
    assert sets.index("train.seed=1") < sets.index("train.seed=7")   # the later one wins
    assert sets.index("train.precision=tf32") < sets.index("train.precision=bf16")
    # the denoisers' default weighted list comes before, so the given list replaces it
    assert sets.index(lease.SIGMA_LIST) < sets.index("task.sigma=[30,50]")
    assert info["set"] == [lease.SIGMA_LIST, "task.sigma=[30,50]", "train.seed=7",
                           "train.precision=bf16"]
    other, info = lease.train_command("denoise-color", 100.0, args)
    assert [c for c in other if c.startswith("task.sigma")] == [lease.SIGMA_LIST]
    # every other run trains at the script's --precision
    assert [c for c in other if c.startswith("train.precision")] == ["train.precision=tf32"]
    # on the block kernel, which trained the shipped models, unless told otherwise
    assert "train.attention_kernel=blockwise" in other
    plain, info = lease.train_command("demosaic", 100.0, args)
    assert not any(c.startswith("task.") for c in plain) and "set" not in info
    for bad in ("task.sigma=[30]", "nosuchmodel:task.sigma=[30]", "denoise-gray:task.sigma"):
        with pytest.raises(argparse.ArgumentTypeError):
            lease.model_override(bad)


def test_the_offline_mini_history_reads_each_report_beside_the_weights_committed_with_it(
        tmp_path):
    """scripts/card_history.py: one point per commit of a model's eval report, at the
    iterations of the card committed beside it; a re-scored report of the same weights
    replaces its point, another tiling is kept apart, a restart drops what came before, and
    the slope is the hand-computed one (PSNR = 30 + 2 log10(iterations))."""
    import json
    import math
    import subprocess

    import torch
    from safetensors.torch import save_file

    history = _script("card_history")
    repo = str(tmp_path)
    report = tmp_path / "docs/eval/shipped/demosaic/results.json"
    weights = tmp_path / "panet/weights/demosaic.safetensors"
    os.makedirs(report.parent)
    os.makedirs(weights.parent)

    def git(*args):
        subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    def commit(iterations, psnr, command="panet eval --tile 48 --overlap 8", own=None):
        card = {"stages": [{"iterations": iterations}]}
        metadata = {"card": json.dumps(card), **({"restore_overlap": str(own)} if own else {})}
        save_file({"w": torch.zeros(1)}, str(weights), metadata=metadata)
        report.write_text(json.dumps({
            "methods": ["Menon 2007", "shipped"], "metadata": {"command": command},
            "means": [{"method": "Menon 2007", "dataset": "offline-mini", "level": "RGGB",
                       "psnr": 99.0},
                      {"method": "shipped", "dataset": "offline-mini", "level": "RGGB",
                       "psnr": psnr}]}))
        git("add", "-A")
        git("commit", "-q", "-m", f"{iterations}")

    git("init", "-q")
    commit(500, 40.0)                       # another network, before a restart
    commit(100, 30 + 2 * math.log10(100))
    commit(1000, 35.0)                      # re-scored below: this point is replaced
    commit(1000, 30 + 2 * math.log10(1000))
    commit(1000, 36.2, command="panet eval --tile 64 --overlap 8")   # another command
    commit(1000, 36.5, command="panet eval --tile 40", own=12)   # the weights' own tiling
    commit(10000, 30 + 2 * math.log10(10000))
    points = history.history("demosaic", repo)
    assert [(p["iterations"], round(p["psnr"]["RGGB"], 3)) for p in points] == [
        (100, 34.0), (1000, 36.0), (1000, 36.2), (1000, 36.5), (10000, 38.0)]
    assert points[3]["tiling"].endswith("[own overlap 12]")
    assert [history.short_tiling(p["tiling"]) for p in points] == [
        "48/8", "48/8", "64/8", "40/12", "48/8"]
    series = history.longest_series(points)
    assert [p["iterations"] for p in series] == [100, 1000, 10000]
    assert history.slope(series, "RGGB") == pytest.approx(2.0)
    assert history.slope(series[:2], "RGGB") is None   # two points make no fit


def test_emulated_tf32_rounds_the_operands_of_products_and_convolutions_only():
    """score_val's TF32 emulation, against values rounded by hand: 10 mantissa bits, to
    nearest, ties to even (or truncated), and only the multiplied operands of the listed
    functions; the expected results are computed outside the emulation."""
    import torch
    import torch.nn.functional as F

    score = _script("score_val")
    u = 2.0 ** -10   # one TF32 unit in the last place at 1.0
    x = torch.tensor([1 + u, 1 + u / 4, 1 + 3 * u / 4, 1 + u / 2, 1 + 3 * u / 2, -(1 + 3 * u / 4),
                      2.0 ** -15 * (1 + u / 4), float("inf"), -float("inf")])
    nearest = torch.tensor([1 + u, 1.0, 1 + u, 1.0, 1 + 2 * u, -(1 + u), 2.0 ** -15,
                            float("inf"), -float("inf")])
    truncated = torch.tensor([1 + u, 1.0, 1.0, 1.0, 1 + u, -1.0, 2.0 ** -15,
                              float("inf"), -float("inf")])
    assert torch.equal(score.tf32_round(x), nearest)
    assert torch.equal(score.tf32_round(x, truncate=True), truncated)
    nans = torch.tensor([0x7F800001, 0x7FFFFFFF, -1], dtype=torch.int32).view(torch.float32)
    assert score.tf32_round(nans).isnan().all()   # NaN payloads do not wrap to inf or zero

    torch.manual_seed(0)
    a, b, acc = torch.randn(2, 5, 7), torch.randn(2, 7, 3), torch.randn(2, 5, 3) * (1 + u / 3)
    image, weight, bias = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    bias = bias * (1 + u / 3)   # off the TF32 grid, so rounding it would show
    r = score.tf32_round
    expected = {"bmm": torch.bmm(r(a), r(b)), "baddbmm": torch.baddbmm(acc, r(a), r(b)),
                "conv": F.conv2d(r(image), r(weight), bias), "plain bmm": torch.bmm(a, b),
                "plain conv": F.conv2d(image, weight, bias),
                "truncated": torch.bmm(r(a, truncate=True), r(b, truncate=True))}
    assert not torch.equal(expected["bmm"], expected["plain bmm"])   # the rounding shows
    assert not torch.equal(expected["conv"], expected["plain conv"])
    with score.precision_context("tf32"):
        assert torch.equal(torch.bmm(a, b), expected["bmm"])
        assert torch.equal(a @ b, expected["bmm"])
        assert torch.equal(torch.baddbmm(acc, a, b), expected["baddbmm"])
        assert torch.equal(F.conv2d(image, weight, bias), expected["conv"])
    with score.precision_context("tf32", truncate=True):
        assert torch.equal(torch.bmm(a, b), expected["truncated"])
    with score.precision_context("tf32", ops="convs"):
        assert torch.equal(torch.bmm(a, b), expected["plain bmm"])
        assert torch.equal(F.conv2d(image, weight, bias), expected["conv"])
    with score.precision_context("tf32", ops="products"):
        assert torch.equal(torch.bmm(a, b), expected["bmm"])
        assert torch.equal(F.conv2d(image, weight, bias), expected["plain conv"])
