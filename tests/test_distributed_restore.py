"""`torchrun -m panet.cli restore` and `eval` with 2 Gloo workers on the CPU: every file
once, the same bytes and the same report as one process; broken files reported once each."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from panet import create_model, save_model
from panet.io import save_image
from panet.workers import balanced_shares

CLI = [sys.executable, "-m", "panet.cli"]
TWO = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
       "-m", "panet.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}   # the thread count torchrun gives each worker


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    torch.manual_seed(0)
    weights = str(root / "tiny.safetensors")
    save_model(create_model("panet-s", n_resblocks=2, n_feats=8), weights)
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (height, width) in enumerate([(40, 50), (64, 30), (33, 33), (80, 72), (20, 24),
                                         (48, 48)]):
        save_image(photos / ("sub" if i == 2 else "") / f"p{i}.png", rng.random((height, width, 3)))
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "random.tif").write_bytes(rng.bytes(5000))
    return weights, photos


def _outputs(folder) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


def test_shares_cover_every_item_once_and_balance_the_work():
    costs = [50, 7, 7, 30, 1, 1, 20, 12]
    shares = balanced_shares(costs, 3)
    assert sorted(i for share in shares for i in share) == list(range(8))
    loads = [sum(costs[i] for i in share) for share in shares]
    assert max(loads) == 50 and min(loads) >= 35          # 128 in all: 50, 39, 39
    assert balanced_shares(costs, 1) == [list(range(8))]


def test_two_workers_restore_each_file_once_with_the_bytes_of_one_process(setup, tmp_path):
    weights, photos = setup
    arguments = ["restore", str(photos), "--task", "denoise", "--model", weights,
                 "--recursive", "--quiet", "-o"]
    one = subprocess.run(CLI + arguments + [str(tmp_path / "one")], capture_output=True,
                         env=ENV)
    two = subprocess.run(TWO + arguments + [str(tmp_path / "two")], capture_output=True,
                         env=ENV)
    assert one.returncode == 1 and two.returncode != 0     # broken files: the job failed
    restored = _outputs(tmp_path / "two")
    assert sorted(restored) == ["p0.png", "p1.png", "p3.png", "p4.png", "p5.png",
                                os.path.join("sub", "p2.png")]
    assert restored == _outputs(tmp_path / "one")          # bit-identical, all finished
    reports = [line for line in two.stderr.decode().splitlines()
               if line.startswith("panet: error:")]
    for broken in ("broken.png", "empty.jpg", "random.tif"):   # once each, by one worker
        assert sum(broken in line for line in reports) == 1, two.stderr.decode()[-3000:]
    assert len(reports) == 3
    # a second launch skips what exists, says so once, and succeeds where nothing failed
    again = subprocess.run(TWO + ["restore", str(photos / "sub"), str(photos / "p0.png"),
                                  "--task", "denoise", "--model", weights, "-o",
                                  str(tmp_path / "two")], capture_output=True, env=ENV)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert again.stdout.decode().count("already existed") == 1


def _report(out) -> dict:
    with open(os.path.join(out, "results.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    for score in report["scores"]:
        del score["seconds"]                 # the only value that depends on the clock
    return {key: report[key] for key in ("task", "methods", "datasets", "levels", "means",
                                         "scores")}


def test_two_workers_evaluate_to_the_report_of_one_process(setup, tmp_path):
    weights, photos = setup
    dataset = tmp_path / "test-photos"
    dataset.mkdir()
    for name in ("p0.png", "p1.png", "p3.png", "p5.png"):
        (dataset / name).write_bytes((photos / name).read_bytes())
    arguments = ["eval", "--task", "denoise", "--levels", "15,50", "--dataset", str(dataset),
                 "--models", f"tiny={weights}", "--baselines", "input", "--quiet", "--out"]
    one = subprocess.run(CLI + arguments + [str(tmp_path / "one")], capture_output=True,
                         env=ENV)
    two = subprocess.run(TWO + arguments + [str(tmp_path / "two")], capture_output=True,
                         env=ENV)
    assert one.returncode == 0 and two.returncode == 0, two.stderr.decode()[-3000:]
    single, shared = _report(tmp_path / "one"), _report(tmp_path / "two")
    assert len(single["scores"]) == 2 * 4 * 2
    assert shared == single
    figures = sorted(f for f in os.listdir(tmp_path / "two") if f.startswith("figure-"))
    assert figures == sorted(f for f in os.listdir(tmp_path / "one") if f.startswith("figure-"))
    assert len(figures) == 2
