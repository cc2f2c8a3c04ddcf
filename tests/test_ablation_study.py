"""The ablation study's one command (scripts/ablation_study.py), at a tiny size: the GPU
study's configuration shrunk with --set runs 2 variants x 2 seeds, is killed mid-run,
resumes to the same weights an uninterrupted run gives, scores every run and writes the
report."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from panet.io import save_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY = os.path.join(ROOT, "configs", "studies", "ablation-gpu.yaml")
ITERATIONS = 30
TINY = ["base.train.device=cpu", "base.train.precision=fp32",
        "base.model.options={n_resblocks: 2, n_feats: 8}", "base.data.patch_size=16",
        "base.data.val_patch_size=16", "base.data.val_images=1", f"base.train.iterations={ITERATIONS}",
        "base.train.save_every=5", "base.train.val_every=30", "base.train.batch_size=2",
        "base.train.log_every=5", "base.optim.warmup=0", "eval.crop=32", "eval.tile=16",
        "eval.overlap=4"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The layout --pack writes: train/ and offline-structure/ (no offline-mini here)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:40] / 40
    for i, role in enumerate(["train", "train", "train", "offline-structure"]):
        os.makedirs(root / role, exist_ok=True)
        smooth = np.stack([np.sin(4 * xx + i), np.cos(3 * yy), xx * yy], 2) * 0.4 + 0.5
        save_image(root / role / f"{i}.png", np.clip(smooth + rng.normal(0, .02, smooth.shape),
                                                     0, 1))
    return root


def _command(photos, work, variants="resnet,pyramid", seeds="1,2"):
    settings = [f"photos={photos}", *TINY]
    return [sys.executable, os.path.join(ROOT, "scripts", "ablation_study.py"), STUDY,
            "--jobs", "2", "--variants", variants, "--seeds", seeds, "--work", str(work),
            "--results", str(work / "results.json"), "--report", str(work / "report.md"),
            *[part for s in settings for part in ("--set", s)]]


def _kill_at_first_checkpoint(command, work, timeout=300):
    """Start the study and kill it (with its training processes) as soon as a run has a
    checkpoint and no final weights: that run is mid-way. Returns the run's folder."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for checkpoint in glob.glob(str(work / "*" / "checkpoints" / "iter-*.pt")):
                run = os.path.dirname(os.path.dirname(checkpoint))
                iteration = int(os.path.basename(checkpoint)[5:-3])
                if iteration < ITERATIONS and \
                        not os.path.exists(os.path.join(run, "model.safetensors")):
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return run
            if process.poll() is not None:
                pytest.fail("the study finished before any checkpoint was seen")
            time.sleep(0.01)
        pytest.fail("no checkpoint within the time limit")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_tiny_study_is_killed_resumes_exactly_and_writes_its_report(photos, tmp_path):
    work = tmp_path / "study"
    killed = _kill_at_first_checkpoint(_command(photos, work), work)
    assert not os.path.exists(work / "results.json") or \
        len(json.load(open(work / "results.json"))) < 4

    done = subprocess.run(_command(photos, work), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "resuming at iteration" in open(os.path.join(killed, "train.log")).read()

    rows = json.load(open(work / "results.json"))
    assert sorted((r["variant"], r["seed"]) for r in rows) == \
        [("pyramid", 1), ("pyramid", 2), ("resnet", 1), ("resnet", 2)]
    for row in rows:
        assert row["iterations"] == ITERATIONS and row["test_set"] == "offline-structure"
        assert {"psnr", "ssim", "cpu_hours", "restore_s_per_mp"} <= set(row)
        assert 5 < row["psnr"] < 60
    report = open(work / "report.md").read()
    assert "| pyramid | 2 |" in report and "| resnet | 2 |" in report
    # the learning curves of every finished variant, rewritten by --report-only too
    assert set(json.load(open(work / "curves.json"))) == {"resnet", "pyramid"}
    os.remove(work / "curves.json")
    rewritten = subprocess.run(_command(photos, work) + ["--report-only"], capture_output=True,
                               text=True, timeout=300)
    assert rewritten.returncode == 0, rewritten.stderr
    assert set(json.load(open(work / "curves.json"))) == {"resnet", "pyramid"}

    # a second call has nothing left to do
    again = subprocess.run(_command(photos, work) + ["--dry-run"], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.strip() == ""

    # the killed run, resumed, ends with the weights of the same run never interrupted
    variant, seed = os.path.basename(killed).rsplit("-seed", 1)
    fresh = tmp_path / "fresh"
    alone = subprocess.run(_command(photos, fresh, variant, seed), capture_output=True,
                           text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr
    resumed = load_file(os.path.join(killed, "model.safetensors"))
    uninterrupted = load_file(str(fresh / os.path.basename(killed) / "model.safetensors"))
    assert resumed.keys() == uninterrupted.keys()
    for name in resumed:
        assert np.array_equal(resumed[name], uninterrupted[name]), name


def test_study_settings_and_refusals(photos, tmp_path):
    work = tmp_path / "study"
    bad = subprocess.run(_command(photos, work) + ["--set", "base.train"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "--set expects KEY.PATH=VALUE" in bad.stderr
    missing = subprocess.run(_command(tmp_path / "nowhere", work), capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode != 0 and "is not a folder (make it with --pack)" in missing.stderr
    listed = subprocess.run(_command(photos, work) + ["--dry-run"], capture_output=True,
                            text=True, timeout=120)
    assert listed.stdout.split() == ["resnet-seed1", "pyramid-seed1", "resnet-seed2",
                                     "pyramid-seed2"]


def test_the_gpu_command_runs_at_a_tiny_size_on_the_cpu(photos, tmp_path):
    """scripts/ablation_gpu.sh, the one call a GPU machine gets, with the study shrunk."""
    settings = [part for s in [f"photos={photos}", *TINY] for part in ("--set", s)]
    env = {**os.environ, "OUT": str(tmp_path / "out"), "ABLATION_WORK": str(tmp_path / "w"),
           # the script's python3 is this interpreter, as on a machine with panet installed
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "ablation_gpu.sh"),
                           "resnet,nonlocal-pixel", "2", "--seeds", "1", *settings],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    rows = json.load(open(tmp_path / "out" / "ablation" / "results-gpu.json"))
    assert sorted(r["variant"] for r in rows) == ["nonlocal-pixel", "resnet"]
    assert "| nonlocal-pixel | 1 |" in open(tmp_path / "out" / "ablation-gpu.md").read()
    assert os.path.isfile(tmp_path / "out" / "runs" / "resnet-seed1" / "metrics.jsonl")
