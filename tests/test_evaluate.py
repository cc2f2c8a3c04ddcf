"""`panet eval`: degradations, classical baselines, scoring, tables, figures, refusals."""

import csv
import io
import json
import math
import sys
import types

import numpy as np
import pytest
from PIL import Image
from torch import nn

from panet import create_model, save_model
from panet.cli import main
from panet.degradations import imresize, mosaic
from panet.evaluate import (BM3DDeblocker, CBM3D, Bicubic, DegradedInput, Demosaicer, Network,
                            comparison_figure, csv_table, evaluate, json_report,
                            markdown_table, parse_levels)
from panet.io import save_image
from panet.metrics import psnr, quantize


def _ramp(height=24, width=28):
    """A different linear ramp per channel: bilinear demosaicing is exact on it inside."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [0.1 + 0.01 * xx + 0.02 * yy, 0.8 - 0.015 * xx + 0.005 * yy,
                0.3 + 0.005 * xx + 0.01 * yy]
    return np.stack(channels, axis=2)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(1)
    smooth = np.clip(_ramp(40, 48) + 0.02 * rng.standard_normal((40, 48, 3)), 0, 1)
    save_image(tmp_path / "a.png", smooth)
    save_image(tmp_path / "b.png", np.full((40, 48, 3), 0.5))
    return tmp_path


class Identity(nn.Module):
    def forward(self, x):
        return x


# ---- classical methods -----------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["RGGB", "GRBG", "BGGR", "GBRG"])
def test_bilinear_demosaicing_is_exact_on_ramps_for_its_pattern(pattern):
    clean = _ramp()
    out = Demosaicer("bilinear")(mosaic(clean, pattern).astype(np.float32), "demosaic", pattern)
    assert np.abs(out - clean)[2:-2, 2:-2].max() < 1e-5
    wrong = {"RGGB": "BGGR", "BGGR": "RGGB", "GRBG": "GBRG", "GBRG": "GRBG"}[pattern]
    out = Demosaicer("bilinear")(mosaic(clean, pattern).astype(np.float32), "demosaic", wrong)
    assert np.abs(out - clean)[2:-2, 2:-2].max() > 0.05   # the pattern really is used


@pytest.mark.parametrize("algorithm", ["menon", "malvar", "bilinear"])
def test_demosaicers_keep_a_flat_colour(algorithm):
    clean = np.ones((16, 16, 3)) * np.array([0.2, 0.5, 0.7])
    out = Demosaicer(algorithm)(mosaic(clean, "RGGB").astype(np.float32), "demosaic", "RGGB")
    assert np.abs(out - clean)[3:-3, 3:-3].max() < 1e-4


def test_unknown_demosaicer():
    with pytest.raises(ValueError, match="known: menon"):
        Demosaicer("ahd")


def test_cbm3d_and_deblocker_call_bm3d_with_sigma_on_unit_scale(monkeypatch):
    calls = []
    fake = types.SimpleNamespace(
        bm3d_rgb=lambda z, sigma: calls.append(("rgb", z.shape, sigma)) or z,
        bm3d=lambda z, sigma: calls.append(("gray", z.shape, sigma)) or z)
    monkeypatch.setitem(sys.modules, "bm3d", fake)
    CBM3D()(np.random.default_rng(0).random((8, 9, 3)).astype(np.float32), "denoise", 30.0)
    CBM3D()(np.zeros((8, 9, 1), np.float32), "denoise", 25.5)
    deblocker = BM3DDeblocker(sigmas={10: 20.0, 20: 15.0, 40: 5.0})
    assert deblocker.sigma_for(15) == pytest.approx(17.5)   # linear between 10 and 20
    assert deblocker.sigma_for(30) == pytest.approx(10.0)
    deblocker(np.zeros((8, 9, 1), np.float32), "jpeg", 20)
    assert calls == [("rgb", (8, 9, 3), pytest.approx(30 / 255)),
                     ("gray", (8, 9), pytest.approx(0.1)),
                     ("gray", (8, 9), pytest.approx(15 / 255))]


def test_cbm3d_runs_gray_bm3d_on_a_gray_image_stored_as_rgb(monkeypatch):
    calls = []
    fake = types.SimpleNamespace(
        bm3d_rgb=lambda z, sigma: calls.append("rgb") or z,
        bm3d=lambda z, sigma: calls.append(("gray", z.shape)) or z * 0.5)
    monkeypatch.setitem(sys.modules, "bm3d", fake)
    gray = np.repeat(np.random.default_rng(1).random((8, 9, 1)), 3, axis=2).astype(np.float32)
    out = CBM3D()(gray, "denoise", 30.0)
    assert calls == [("gray", (8, 9))] and out.shape == (8, 9, 3)
    np.testing.assert_allclose(out, gray * 0.5, rtol=1e-6)


def test_real_cbm3d_removes_noise():
    pytest.importorskip("bm3d")
    clean = _ramp(32, 32).astype(np.float32)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 30 / 255, clean.shape), 0, 1)
    assert psnr(CBM3D()(noisy.astype(np.float32), "denoise", 30), clean) > psnr(noisy, clean) + 5


def test_missing_bm3d_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)   # makes `import bm3d` fail
    with pytest.raises(ValueError, match=r'pip install "panet\[baselines\]"'):
        CBM3D().check_available()


# ---- scoring ------------------------------------------------------------------------------

def test_noisy_input_scores_the_textbook_psnr(folder):
    result = evaluate("denoise", [10.0], {"set": str(folder / "b.png").rsplit("/", 1)[0]},
                      [DegradedInput()], limit=None)
    flat = [s for s in result.scores if s.image == "b.png"][0]
    # mid-gray, sigma 10, no clipping: PSNR = 20 log10(255 / 10) (rounding adds 1/12 LSB^2)
    assert flat.psnr == pytest.approx(20 * math.log10(255 / math.sqrt(100 + 1 / 12)), abs=0.15)
    again = evaluate("denoise", [10.0], {"set": str(folder)}, [DegradedInput()])
    assert [s.psnr for s in again.scores] == [s.psnr for s in result.scores]   # deterministic


def test_a_network_equals_the_input_row_when_it_is_the_identity(folder):
    methods = [DegradedInput(), Network(name="identity", model=Identity(), task="denoise")]
    result = evaluate("denoise", [30.0], {"set": str(folder)}, methods)
    by_method = {m: [s.psnr for s in result.scores if s.method == m] for m in result.methods}
    assert by_method["identity"] == by_method["input"]
    assert by_method["input"][0] < 25


def test_sr_is_scored_on_y_with_the_scale_shaved(folder):
    result = evaluate("sr", [2], {"set": str(folder)}, [Bicubic()], limit=1)
    clean = quantize(np.asarray(Image.open(folder / "a.png"))) / 255.0
    low = np.round(np.clip(imresize(clean, 0.5), 0, 1) * 255) / 255
    expected = psnr(imresize(low, 2), clean, y=True, shave=2)
    assert result.scores[0].psnr == pytest.approx(expected, abs=1e-9)


def test_fixed_level_network_fills_only_its_column(folder):
    methods = [Network(name="s30", model=Identity(), task="denoise", level=30),
               DegradedInput()]
    result = evaluate("denoise", [10.0, 30.0], {"set": str(folder)}, methods, crop=16)
    assert result.mean("s30", "set", "σ10") is None
    assert result.mean("s30", "set", "σ30") == result.mean("input", "set", "σ30")
    table = markdown_table(result)
    assert "| s30 | — |" in table


def test_tables_agree_with_the_scores(folder, tmp_path):
    result = evaluate("denoise", [10.0, 50.0], {"set": str(folder)},
                      [DegradedInput(), Network(name="id", model=Identity(), task="denoise")],
                      crop=16)
    rows = list(csv.DictReader(io.StringIO(csv_table(result))))
    assert len(rows) == 4
    for row in rows:
        scores = [s.psnr for s in result.scores
                  if (s.method, s.level) == (row["method"], row["level"])]
        assert float(row["psnr"]) == pytest.approx(np.mean(scores), abs=1e-4)
        assert int(row["images"]) == 2
    report = json.loads(json_report(result, {"seed": 0}))
    assert len(report["scores"]) == 2 * 2 * 2 and report["metadata"] == {"seed": 0}
    table = markdown_table(result)
    assert table.count("\n| ") == 3 and "set σ10" in table and "set σ50" in table
    path = tmp_path / "fig.png"
    comparison_figure(result, "set", "σ50", str(path))
    assert Image.open(path).size[0] > 400


def test_parse_levels_refusals():
    assert parse_levels("denoise", "10, 30") == [10.0, 30.0]
    for task, text, message in [("jpeg", "0", "1 to 100"), ("sr", "1", "2 or more"),
                                ("demosaic", "RGBG", "unknown Bayer"), ("denoise", "x",
                                                                        "bad level"),
                                ("inpaint", "1", "unknown task"), ("sr", " , ", "no levels")]:
        with pytest.raises(ValueError, match=message):
            parse_levels(task, text)


# ---- command line -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("w") / "tiny.safetensors")
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), path)
    return path


def test_eval_command_writes_tables_and_figures(folder, tiny_weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", "--task", "demosaic", "--levels", "RGGB", "--dataset", str(folder),
                 "--models", f"tiny={tiny_weights}", "--baselines", "menon,bilinear",
                 "--crop", "16", "--out", str(out), "--quiet", "--save-images"]) == 0
    table = (out / "results.md").read_text()
    for name in ("tiny", "Menon 2007", "bilinear"):
        assert f"| {name} |" in table
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 3
    assert (out / f"figure-demosaic-{folder.name}-RGGB.png").is_file()
    assert len(list((out / "images").rglob("*.png"))) == 3 * 2


@pytest.mark.parametrize("arguments, message", [
    (["--task", "denoise", "--levels", "abc"], "bad level"),
    (["--task", "denoise", "--levels", "30", "--baselines", "sobel"], "unknown baseline"),
    (["--task", "denoise", "--levels", "30", "--baselines", "menon"], "does not do task"),
    (["--task", "denoise", "--levels", "30", "--dataset", "/no/such"], "neither a folder"),
    (["--task", "denoise", "--levels", "30", "--models", "nonesuch"], "unknown model"),
    (["--task", "denoise", "--levels", "30", "--models", "none", "--baselines", "none"],
     "nothing to evaluate"),
    (["--task", "denoise", "--levels", "30", "--crop", "2"], "--crop"),
])
def test_eval_refusals(arguments, message, folder, tmp_path, capsys):
    if "--dataset" not in arguments:
        arguments = arguments + ["--dataset", str(folder)]
    assert main(["eval", *arguments, "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and error[-1].startswith("panet: error:")


def test_eval_on_an_unprepared_set_says_how_to_fetch(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PANET_DATA", str(tmp_path))
    assert main(["eval", "--task", "sr", "--levels", "2", "--models", "none"]) == 2
    assert "panet data fetch test" in capsys.readouterr().err


def test_explicit_cbm3d_without_the_package(monkeypatch, folder, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "bm3d", None)
    assert main(["eval", "--task", "denoise", "--levels", "30", "--dataset", str(folder),
                 "--models", "none", "--baselines", "cbm3d", "--out", str(tmp_path)]) == 2
    assert "panet[baselines]" in capsys.readouterr().err
    # by default a missing optional baseline is skipped with a note, the rest still runs
    assert main(["eval", "--task", "denoise", "--levels", "30", "--dataset", str(folder),
                 "--models", "none", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    assert "skipping baseline cbm3d" in capsys.readouterr().err
