"""`panet train` from the command line: SIGKILL at random moments and --resume end exactly
where an uninterrupted run ends; two torchrun workers train what one process trains."""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file


TRAIN = [sys.executable, "-m", "panet.cli", "train", "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

# Runs the command line in a process that SIGKILLs itself at one chosen moment: after the
# N-th checkpoint file is written but before it is renamed into place, at the start of
# the validation of iteration N, or halfway through writing the exported weights.
KILLING_WRAPPER = r"""
import os, signal, sys
import torch
import panet.train.loop as loop
moment, n = sys.argv[1], int(sys.argv[2])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if moment == "checkpoint":
    real_save, calls = torch.save, []
    def save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        calls.append(path)
        if len(calls) == n:
            die()
    torch.save = save
elif moment == "validation":
    real_validate = loop.Trainer.validate
    def validate(self):
        if self.position.iteration == n:
            die()
        return real_validate(self)
    loop.Trainer.validate = validate
elif moment == "export":
    def save_model(model, path, metadata):
        with open(path, "wb") as handle:
            handle.write(b"half of the weights")
        die()
    loop.save_model = save_model
from panet.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def config(images):
    folder = images
    raw = {"model": {"name": "panet-s", "options": {"n_resblocks": 2, "n_feats": 8}},
           "task": {"type": "denoise", "sigma": 30},
           "data": {"train": str(folder), "val": str(folder), "patch_size": 12,
                    "val_patch_size": 24, "repeat": 3, "workers": 0},
           "train": {"iterations": 30, "batch_size": 4, "log_every": 1, "val_every": 4,
                     "save_every": 3, "keep_last": 2, "threads": 1,
                     # float32 on every CPU: bfloat16 autocast (precision auto where the CPU
                     # has it) rounds a batch of 2 differently from one of 4
                     "precision": "fp32"}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _records(run: str) -> list[dict]:
    """The log without its timing field (the only value that depends on the clock)."""
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as handle:
        return [{k: v for k, v in json.loads(line).items() if k != "it_per_s"}
                for line in handle]


def _newest_checkpoint(run: str) -> int | None:
    paths = sorted(glob.glob(os.path.join(run, "checkpoints", "iter-*.pt")))
    return int(os.path.basename(paths[-1])[5:14]) if paths else None


def _assert_resumed_where_it_stopped(stderr: bytes, before: int | None,
                                     killed: bool = False) -> None:
    """A resumed process starts at the newest checkpoint, not at iteration 0 (one killed
    during start-up may not have got as far as saying so)."""
    said = [line for line in stderr.decode().splitlines() if line.startswith("resuming at")]
    expected = [] if before is None else \
        [f"resuming at iteration {before} from checkpoints/iter-{before:09d}.pt"]
    assert said == expected or (killed and not said), stderr.decode()[-2000:]


def _assert_same_as(run: str, straight: str) -> None:
    assert _records(run) == _records(straight)          # no line lost, none repeated
    got, want = (load_file(os.path.join(r, "model.safetensors")) for r in (run, straight))
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)   # bit-identical weights
    leftovers = glob.glob(os.path.join(run, "**", ".partial-*"), recursive=True)
    assert not leftovers


@pytest.fixture(scope="module")
def straight(config, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("straight") / "run")
    started = time.perf_counter()
    subprocess.run(TRAIN + [config, "--out", run], check=True, capture_output=True, env=ENV)
    return run, time.perf_counter() - started


def test_sigkill_at_random_moments_then_resume_ends_as_if_uninterrupted(config, straight,
                                                                         tmp_path):
    reference, seconds = straight
    run = str(tmp_path / "run")
    chooser = random.Random(20261126)
    kills = landed = 0
    half_line = False
    while True:
        before = _newest_checkpoint(run)
        process = subprocess.Popen(TRAIN + [config, "--out", run, "--resume"], env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 10:   # anywhere in a process's life, start-up included
            try:
                process.wait(timeout=chooser.uniform(0.2, seconds))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                kills += 1
                landed += _newest_checkpoint(run) != before or \
                    os.path.exists(os.path.join(run, "metrics.jsonl"))
        stderr = process.communicate(timeout=300)[1]
        _assert_resumed_where_it_stopped(stderr, before, killed=process.returncode != 0)
        if process.returncode == 0:
            break
        assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
        log = os.path.join(run, "metrics.jsonl")
        if not half_line and kills >= 4 and os.path.exists(log):
            # what a kill in the middle of writing a log line leaves: half a line
            with open(log, "a", encoding="utf-8") as handle:
                handle.write('{"iteration": 99, "lo')
            half_line = True
    assert landed >= 5 and half_line   # most kills hit a run that had started training
    _assert_same_as(run, reference)
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == \
        ["best.pt", "iter-000000027.pt", "iter-000000030.pt"]
    assert os.path.getsize(os.path.join(run, "curves.png")) > 1000
    assert any(name.startswith("events.out.tfevents")
               for name in os.listdir(os.path.join(run, "tensorboard")))
    # without --resume, a folder that holds checkpoints is not trained over
    again = subprocess.run(TRAIN + [config, "--out", run], capture_output=True, env=ENV)
    assert again.returncode == 2 and b"pass --resume" in again.stderr


@pytest.mark.parametrize("moment,n", [("checkpoint", 4), ("validation", 30), ("export", 1)])
def test_sigkill_while_checkpointing_validating_or_exporting(config, straight, tmp_path,
                                                             moment, n):
    """The fourth checkpoint file written but not renamed; the final validation begun; the
    exported weights half written: each killed process leaves nothing a resumed run trips
    over."""
    reference, _ = straight
    run = str(tmp_path / "run")
    killed = subprocess.run([sys.executable, "-c", KILLING_WRAPPER, moment, str(n), "train",
                             "--quiet", config, "--out", run], env=ENV, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    before = _newest_checkpoint(run)
    if moment == "checkpoint":   # killed between writing a checkpoint and renaming it
        assert glob.glob(os.path.join(run, "checkpoints", ".partial-*.pt"))
    else:
        assert before == {"validation": 27, "export": 30}[moment]
    resumed = subprocess.run(TRAIN + [config, "--out", run, "--resume"], env=ENV,
                             capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    _assert_resumed_where_it_stopped(resumed.stderr, before)
    _assert_same_as(run, reference)


def test_two_torchrun_workers_train_what_one_process_trains(config, straight, tmp_path):
    """``torchrun --nproc_per_node 2`` with the global batch 4: the same weights as one
    process with batch 4 (up to the order of the gradient sum), and the same logged loss
    (the mean over both workers)."""
    reference, _ = straight
    run = str(tmp_path / "two")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "panet.cli", "train", "--quiet",
                          config, "--out", run], env=ENV, capture_output=True)
    assert two.returncode == 0, two.stderr.decode()[-3000:]
    got, want = (load_file(os.path.join(r, "model.safetensors")) for r in (run, reference))
    assert max(float((got[k] - want[k]).abs().max()) for k in want) <= 1e-5
    records, expected = _records(run), _records(reference)
    assert [sorted(r) for r in records] == [sorted(r) for r in expected]
    for mine, theirs in zip(records, expected):
        for key in ("loss", "val_psnr"):
            if key in theirs:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-4)
