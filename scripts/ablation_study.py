"""Run the paper's ablation study (§4.9) as one resumable job, score it, write its report.

    python scripts/ablation_study.py configs/studies/ablation.yaml [--jobs 2]
        [--variants resnet,pyramid] [--seeds 1,2] [--set base.train.iterations=4]
        [--report-only] [--dry-run]
    python scripts/ablation_study.py STUDY --pack DIR   # the photos, for another machine

What it does, in order, skipping what is done:
1. prepares the data: offline-train (``panet data fetch train``) minus the study's
   structure photos, which become a test set of their own (``offline-structure``); or,
   where the study names ``photos: DIR`` (made by ``--pack``), DIR/train,
   DIR/offline-structure and DIR/offline-mini;
2. trains every variant x seed with ``panet train`` (one process per job, one thread each,
   ``nice``d), resuming a run from its last checkpoint (``save_every`` iterations);
3. scores each finished run with ``panet eval`` at its last iteration, on offline-mini and
   offline-structure;
4. adds the scores to ``docs/ablation/results.json`` and rebuilds ``docs/ablation.md``.

Killing it at any moment loses at most ``save_every`` iterations per run in progress. Runs
live under ``runs/ablation/``; the results file is the record kept across machines: a run
whose scores are in it is never trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from ablation_report import write_report  # noqa: E402

STRUCTURE_SET = "offline-structure"
_LOCK = threading.Lock()


def load_study(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        study = yaml.safe_load(handle)
    missing = {"base", "seeds", "variants", "eval"} - set(study)
    if missing:
        raise SystemExit(f"{path}: missing section(s) {', '.join(sorted(missing))}")
    return study


def run_name(variant: str, seed: int) -> str:
    return f"{variant}-seed{seed}"


# ---- data -----------------------------------------------------------------------------------

def packed_folders(study: dict) -> dict[str, str] | None:
    """The ``photos: DIR`` folders a study names (from ``--pack``), or None."""
    if not study.get("photos"):
        return None
    root = study["photos"]
    folders = {"train": os.path.join(root, "train"),
               STRUCTURE_SET: os.path.join(root, STRUCTURE_SET),
               "offline-mini": os.path.join(root, "offline-mini")}
    for role in ("train", STRUCTURE_SET):
        if not os.path.isdir(folders[role]):
            raise SystemExit(f"photos: {folders[role]} is not a folder (make it with --pack)")
    return folders


def prepare_data(study: dict, work: str) -> tuple[str, str]:
    """(training folder, structure test folder): links into the prepared offline-train, or
    the study's packed ``photos``."""
    from panet.data.photos import default_root, read_index, set_folder

    packed = packed_folders(study)
    if packed:
        return packed["train"], packed[STRUCTURE_SET]
    root = default_root()
    index = read_index(root, "train")
    if not index:
        raise SystemExit("offline-train is not prepared: run `panet data fetch train` first")
    held = set(study.get("structure_photos") or [])
    unknown = held - {row["file"] for row in index.values()}
    if unknown:
        raise SystemExit(f"structure photos not in offline-train: {', '.join(sorted(unknown))}")
    train, test = os.path.join(work, "data", "train"), os.path.join(work, "data", STRUCTURE_SET)
    for folder in (train, test):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    for row in index.values():
        source = os.path.join(set_folder(root, "train"), row["file"])
        os.symlink(source, os.path.join(test if row["file"] in held else train, row["file"]))
    return train, test


def pack(study: dict, out: str) -> None:
    """Copy what the study reads into ``out``: crops of its training photos (as the shipped
    models' pack), its structure photos and offline-mini whole, for a machine without the
    network (set ``photos: OUT`` in the study there)."""
    from panet.data.photos import default_root, set_folder
    from panet.io import load_image, save_image
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from pack_train_crops import crops_of

    source = os.path.join(out, ".source")
    train, structure = prepare_data({**study, "photos": None}, source)
    mini = set_folder(default_root(), "test")
    if not os.path.isdir(mini):
        raise SystemExit("offline-mini is not prepared: run `panet data fetch mini` first")
    for name, folder in (("train", train), (STRUCTURE_SET, structure), ("offline-mini", mini)):
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for file in sorted(os.listdir(folder)):
            if name != "train":
                shutil.copyfile(os.path.join(folder, file), os.path.join(out, name, file))
                continue
            image = load_image(os.path.join(folder, file))
            count = max(1, round(0.5 * image.pixels.shape[0] * image.pixels.shape[1] / 1e6))
            for i, crop in enumerate(crops_of(image.pixels, 512, count)):
                stem = os.path.splitext(file)[0]
                save_image(os.path.join(out, name, f"{stem}-{i}.png"), crop,
                           bit_depth=image.bit_depth)
    shutil.rmtree(source)


# ---- one run --------------------------------------------------------------------------------

def shared_initialisation(options: dict, seed: int, base_name: str, path: str) -> None:
    """Write the initial weights of a run: the variant's own attention, and every other
    layer copied from the attention-free network made with the same seed."""
    import torch

    from panet.attention import attention_blocks
    from panet.checkpoints import save_model
    from panet.models import create_model
    from panet.train.warm_start import warm_start

    base_options = dict((yaml.safe_load(json.dumps(options)) or {}))
    torch.manual_seed(seed)
    model = create_model(base_name, **base_options)
    attention = [m.state_dict() for m in attention_blocks(model)]
    torch.manual_seed(seed)
    backbone = create_model(base_name, **{**base_options, "attention_positions": []})
    warm_start(model, backbone)
    for block, state in zip(attention_blocks(model), attention):
        block.load_state_dict(state)   # warm_start zeroed them: keep their own start
    save_model(model, path)


def run_config(study: dict, variant: str, seed: int, train: str, work: str) -> dict:
    config = json.loads(json.dumps(study["base"]))
    model = config.setdefault("model", {})
    model["options"] = {**model.get("options", {}), **(study["variants"][variant] or {})}
    folder = os.path.join(work, run_name(variant, seed))
    model["init_from"] = os.path.join(folder, "init.safetensors")
    config.setdefault("train", {})["seed"] = seed
    data = config.setdefault("data", {})
    data["train"] = train
    data["val"] = (packed_folders(study) or {}).get(STRUCTURE_SET) or \
        os.path.join(work, "data", STRUCTURE_SET)
    return config


def finished(folder: str, iterations: int) -> bool:
    weights = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(weights):
        return False
    from safetensors import safe_open

    with safe_open(weights, "pt") as handle:
        return int((handle.metadata() or {}).get("iterations", -1)) >= iterations


def train_run(study: dict, variant: str, seed: int, train: str, work: str) -> str:
    folder = os.path.join(work, run_name(variant, seed))
    os.makedirs(folder, exist_ok=True)
    config = run_config(study, variant, seed, train, work)
    if finished(folder, config["train"]["iterations"]):
        return folder
    with _LOCK:   # the global random generator: one thread at a time
        if not os.path.isfile(config["model"]["init_from"]):
            shared_initialisation(config["model"]["options"], seed, config["model"]["name"],
                                  config["model"]["init_from"])
    with open(os.path.join(folder, "study-config.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    resume = os.path.isdir(os.path.join(folder, "checkpoints")) and \
        any(f.endswith(".pt") for f in os.listdir(os.path.join(folder, "checkpoints")))
    command = ["nice", "-n", "10", sys.executable, "-m", "panet", "train",
               os.path.join(folder, "study-config.yaml"), "--out", folder, "--quiet"]
    if resume:
        command.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(os.path.join(folder, "train.log"), "a", encoding="utf-8") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if status != 0 or not finished(folder, config["train"]["iterations"]):
        raise RuntimeError(f"{run_name(variant, seed)}: training failed (see {folder}/train.log)")
    return folder


def score_run(study: dict, variant: str, seed: int, work: str) -> list[dict]:
    """``panet eval`` of the run's last weights; one result row per test set."""
    folder = os.path.join(work, run_name(variant, seed))
    out = os.path.join(folder, "eval")
    spec = study["eval"]
    packed = packed_folders(study)
    datasets = ["offline-mini"]
    if packed:
        datasets = [packed["offline-mini"]] if os.path.isdir(packed["offline-mini"]) else []
        datasets.append(packed[STRUCTURE_SET])
    elif study.get("structure_photos"):
        datasets.append(os.path.join(work, "data", STRUCTURE_SET))
    command = [sys.executable, "-m", "panet", "eval", "--task", "denoise",
               "--levels", str(spec["levels"]), "--dataset", ",".join(datasets),
               "--models", f"{variant}={os.path.join(folder, 'model.safetensors')}",
               "--baselines", "none", "--protocol", "default", "--tile", str(spec["tile"]),
               "--overlap", str(spec["overlap"]), "--crop", str(spec["crop"]),
               "--seed", str(spec["seed"]), "--out", out, "--quiet"]
    if spec.get("limit"):
        command += ["--limit", str(spec["limit"])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(os.path.join(folder, "eval.log"), "w", encoding="utf-8") as log:
        status = subprocess.run(["nice", "-n", "10", *command], stdout=log,
                                stderr=subprocess.STDOUT, env=env).returncode
    if status != 0:
        raise RuntimeError(f"{run_name(variant, seed)}: scoring failed (see {folder}/eval.log)")
    with open(os.path.join(out, "results.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    from safetensors import safe_open

    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as handle:
        meta = handle.metadata() or {}
    from panet.hardware import describe_machine

    rows = []
    for mean in report["means"]:
        name = os.path.basename(mean["dataset"].rstrip("/"))
        rows.append({"variant": variant, "seed": seed, "iterations": int(meta["iterations"]),
                     "test_set": name, "psnr": round(mean["psnr"], 4),
                     "ssim": round(mean["ssim"], 5),
                     "cpu_hours": round(float(meta["train_seconds"]) / 3600, 3),
                     "restore_s_per_mp": round(report["seconds_per_megapixel"][variant], 2),
                     "machine": describe_machine().split(",")[0]})
    return rows


def record(results_path: str, rows: list[dict]) -> list[dict]:
    """Merge ``rows`` into the results file (one row per variant, seed and test set)."""
    from panet.files import atomic_output

    with _LOCK:
        known = []
        if os.path.isfile(results_path):
            with open(results_path, encoding="utf-8") as handle:
                known = json.load(handle)
        keys = {(r["variant"], r["seed"], r["test_set"]) for r in rows}
        merged = [r for r in known if (r["variant"], r["seed"], r["test_set"]) not in keys]
        merged += rows
        merged.sort(key=lambda r: (r["variant"], r["seed"], r["test_set"]))
        os.makedirs(os.path.dirname(results_path), exist_ok=True)
        with atomic_output(results_path) as partial, open(partial, "w", encoding="utf-8") as f:
            json.dump(merged, f, indent=1)
            f.write("\n")
        return merged


def done_runs(results_path: str) -> set[tuple[str, int]]:
    if not os.path.isfile(results_path):
        return set()
    with open(results_path, encoding="utf-8") as handle:
        return {(r["variant"], r["seed"]) for r in json.load(handle)}


def apply_settings(study: dict, settings: list[str]) -> dict:
    """``KEY.PATH=VALUE`` settings (YAML values) applied to a copy of the study."""
    study = json.loads(json.dumps(study))
    for setting in settings:
        key, equals, value = setting.partition("=")
        if not equals or not key:
            raise SystemExit(f"--set expects KEY.PATH=VALUE, got {setting!r}")
        *parents, last = key.split(".")
        node = study
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {key}: {part} is not a section")
        node[last] = yaml.safe_load(value)
    return study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--variants", help="comma list (default: all, in the file's order)")
    parser.add_argument("--seeds", help="comma list (default: the file's)")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "ablation"))
    parser.add_argument("--results", default=os.path.join(ROOT, "docs", "ablation",
                                                          "results.json"))
    parser.add_argument("--report", default=os.path.join(ROOT, "docs", "ablation.md"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="change the study, e.g. base.train.iterations=4 (repeatable)")
    parser.add_argument("--pack", metavar="DIR",
                        help="copy the study's photos into DIR for another machine, and stop")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list what would run")
    args = parser.parse_args(argv)

    study = apply_settings(load_study(args.study), args.set)
    if args.pack:
        pack(study, args.pack)
        return 0
    variants = args.variants.split(",") if args.variants else list(study["variants"])
    unknown = [v for v in variants if v not in study["variants"]]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}")
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else study["seeds"]
    if args.report_only:
        write_report(args.results, args.report, study, args.study, args.work)
        return 0
    done = done_runs(args.results)
    # seed-major: every variant of a seed before the next seed, so pairs complete early
    todo = [(v, s) for s in seeds for v in variants if (v, s) not in done]
    if args.dry_run:
        for variant, seed in todo:
            print(run_name(variant, seed))
        return 0
    train, _ = prepare_data(study, args.work)
    failures = []

    def one(variant: str, seed: int) -> None:
        started = time.strftime("%H:%M")
        try:
            train_run(study, variant, seed, train, args.work)
            record(args.results, score_run(study, variant, seed, args.work))
            with _LOCK:
                write_report(args.results, args.report, study, args.study, args.work)
            print(f"{started}-{time.strftime('%H:%M')} {run_name(variant, seed)}: done",
                  flush=True)
        except Exception as error:   # one failed run must not stop the others
            failures.append(run_name(variant, seed))
            print(f"{run_name(variant, seed)}: {error}", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for variant, seed in todo:
            pool.submit(one, variant, seed)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
