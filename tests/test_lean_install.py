"""The base install (no ``panet[train]``): restoring never needs tensorboard or matplotlib,
training runs without them and says so once, and the figures say how to get matplotlib.

The subprocess tests stand for a lean install without installing one: an import hook makes
``import tensorboard``, ``torch.utils.tensorboard`` and ``import matplotlib`` fail, and
records every try."""

import json
import os
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
import yaml

from panet.cli import main
from panet.io import save_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKED = ("tensorboard", "torch.utils.tensorboard", "matplotlib")
NOTE = 'pip install "panet[train]"'

# Runs first in the subprocess: what an interpreter without the training extras sees.
LEAN = f"""
import json, sys

BLOCKED = {BLOCKED!r}
tried = []


class Lean:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            tried.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


assert not [name for name in sys.modules if name.split(".")[0] in ("tensorboard",
                                                                 "matplotlib")]
sys.meta_path.insert(0, Lean())
from panet.cli import main
"""


def _run_lean(body: str, cwd) -> subprocess.CompletedProcess:
    """Run ``body`` after :data:`LEAN` in a fresh interpreter; its last stdout line is the
    JSON list of the blocked imports it tried."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    code = LEAN + body + "\nprint(json.dumps(tried))\n"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)


def _photos(folder, count=2, size=40):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        smooth = np.stack([np.sin(4 * xx + i), np.cos(3 * yy), xx * yy], 2) * 0.4 + 0.5
        save_image(os.path.join(folder, f"{i}.png"),
                   np.clip(smooth + rng.normal(0, 0.02, smooth.shape), 0, 1))
    return str(folder)


def test_base_dependencies_leave_the_training_extras_out():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        project = tomllib.load(handle)["project"]

    def names(requirements):
        return {re.split(r"[<>=!~;\[ ]", requirement)[0].lower()
                for requirement in requirements}

    base = names(project["dependencies"])
    assert not base & {"tensorboard", "matplotlib"}
    assert {"torch", "numpy", "pillow", "safetensors", "tifffile", "pypng", "scipy"} <= base
    extras = project["optional-dependencies"]
    for extra in ("train", "test"):   # the tests exercise what the extra brings
        assert {"tensorboard", "matplotlib"} <= names(extras[extra]), extra


def test_restoring_never_imports_tensorboard_or_matplotlib(tmp_path):
    _photos(tmp_path / "in", count=1, size=32)
    result = _run_lean(f"""
assert main(["demo", "--image", {str(tmp_path / "in" / "0.png")!r}]) == 0
assert main(["restore", {str(tmp_path / "in" / "0.png")!r}, "--task", "denoise",
             "--sigma", "25", "-o", {str(tmp_path / "out.png")!r}]) == 0
""", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PSNR      restored" in result.stdout
    assert (tmp_path / "out.png").is_file()
    assert json.loads(result.stdout.splitlines()[-1]) == []   # not even tried


def test_training_without_the_extras_writes_metrics_says_so_once_and_resumes(tmp_path):
    images = _photos(tmp_path / "images")
    raw = {"model": {"name": "panet-s", "options": {"n_resblocks": 2, "n_feats": 8}},
           "task": {"type": "denoise", "sigma": 30},
           "data": {"train": str(images), "val": str(images), "patch_size": 12,
                    "val_patch_size": 24, "repeat": 4, "workers": 0},
           "train": {"iterations": 2, "batch_size": 2, "log_every": 1, "val_every": 2,
                     "save_every": 1, "threads": 1}}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    # two runs in one process, the second a resume: one note in all
    result = _run_lean(f"""
assert main(["train", {str(config)!r}, "--out", {str(run)!r}, "--quiet"]) == 0
assert main(["train", {str(config)!r}, "--out", {str(run)!r}, "--quiet", "--resume",
             "--set", "train.iterations=3"]) == 0
""", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("panet: note:")]
    assert len(notes) == 1 and NOTE in notes[0], result.stderr
    assert "tensorboard and matplotlib" in notes[0] and "metrics.jsonl" in notes[0]
    assert "resuming at iteration 2" in result.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if "loss" in r] == [1, 2, 3]
    assert [r["iteration"] for r in records if "val_psnr" in r] == [2, 3]
    assert (run / "model.safetensors").is_file()
    assert not (run / "curves.png").exists() and not (run / "tensorboard").exists()
    assert set(json.loads(result.stdout.splitlines()[-1])) >= {"torch.utils.tensorboard",
                                                               "matplotlib"}


@pytest.fixture
def no_matplotlib(monkeypatch):
    """In this process: ``import matplotlib`` fails as it does where it is not installed."""
    import panet.evaluate.figures as figures

    for name in [name for name in sys.modules if name.split(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(figures, "_noted", False)


def test_eval_without_matplotlib_writes_the_tables_and_skips_the_figures(no_matplotlib,
                                                                         tmp_path, capsys):
    folder = _photos(tmp_path / "set", size=24)
    out = tmp_path / "out"
    assert main(["eval", "--task", "denoise", "--levels", "30,50", "--dataset", str(folder),
                 "--models", "none", "--baselines", "input", "--out", str(out),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    err = captured.err
    assert (out / "results.md").is_file() and not list(out.glob("figure-*.png"))
    assert err.count("panet: note: no figures") == 1 and NOTE in err
    assert "and 0 figure(s)" in captured.out      # it does not count what it did not draw
    assert "Traceback" not in err


def test_attention_map_without_matplotlib_is_a_one_line_error(no_matplotlib, tmp_path, capsys):
    _photos(tmp_path, count=1, size=16)
    output = tmp_path / "map.png"
    assert main(["attention-map", str(tmp_path / "0.png"), "--model", "panet-s",
                 "--at", "3,4", "-o", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("panet: error:")]) == 1
    assert NOTE in err[-1] and not output.exists()
