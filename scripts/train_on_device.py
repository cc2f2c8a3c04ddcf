"""Train the shipped models on one lent GPU within a time budget, most-behind first.

    python scripts/train_on_device.py --budget 540 --out runs/device \
        --train .devpack/train --val .devpack/val [--bundle $OUT] [--only demosaic,sr-x2]

One ``panet train`` run per shipped model, one after another, each alone on the device with
``data.pipeline: device`` (crops, flips and degradations made on the GPU, so the host's few
cores do not hold it back). Each run warm-starts from the model's current weights
(``panet/weights``, or ``--init DIR`` holding ``NAME/model.safetensors`` from an earlier
lease), validates before its first step, and follows a cosine schedule that ends when its
share of the budget is spent. Shares are proportional to how far each model is behind (the
``GAPS`` table), except that a model close to its target gets the time it needs
(``FLOORS``); the time a run takes to start and finish is taken from the models after it.

Leaves OUT/NAME/ (model.safetensors, metrics.jsonl, config.yaml, curves.png) and
OUT/summary.json (iterations, iterations/s, validation PSNR before and after, seconds), which
``scripts/package_weights.py`` and ``panet eval --models NAME=OUT/NAME/model.safetensors``
read (not for jpeg-color: that file is its colour network alone, trained for the chroma of
the pair with jpeg-y that ships, so evaluate it once packaged). ``--bundle DIR`` also packs
them into a few tar files of at most 15 MiB (what a lent machine can hand back).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CONFIGS = os.path.join(ROOT, "configs", "shipped")

#: dB by which each shipped model trails its target or its classical rival on offline-mini
#: (docs/history/models.md, "Targets of issue 11"; update it when new weights ship). The order of
#: training and the share of the budget follow it; a model that meets everything keeps a
#: small share. jpeg-color meets its offline-mini targets and, since the cpu15 weights,
#: `panet demo --task jpeg` gains at quality 10, 20 and 40.
GAPS = {"denoise-color": 0.46, "denoise-gray": 0.41, "demosaic": 0.07, "jpeg-y": 0.0,
        "sr-x2": 0.0, "sr-x4": 0.0, "jpeg-color": 0.0, "sr-x3": 0.0}
#: seconds a run spends outside its training loop (start-up, JPEG coding, last validation)
OVERHEAD = 20.0
#: the noise levels the denoisers train on in a lease: every σ 0-75, weighted towards σ 30,
#: where both still trail (docs/training.md, "Drawing the levels from a list"; the lease of
#: 2026-12-04 gained at σ 15, 30 and 50 with it). A --set of the same key replaces it.
SIGMA_LIST = "task.sigma=[0,5,10,15,20,25,25,30,30,30,30,35,35,40,45,50,50,55,60,65,70,75]"
DEFAULT_SETS = {"denoise-color": [SIGMA_LIST], "denoise-gray": [SIGMA_LIST]}


#: seconds a model trains for even where its gap would give it less, in a call whose budget
#: is at least 4 times that (so a short second call is left to the others): demosaic is
#: 0.07 dB short, which the offline-mini history (scripts/card_history.py, models.md) puts
#: at about 1,100 more iterations, 45 s at a float32 lease's 25 iterations/s; this is twice
#: that, plus a run's start-up and last validation.
FLOORS = {"demosaic": 110.0}


def shares(names: list[str], left: float, budget: float, min_share: float = 0.0
           ) -> dict[str, float]:
    """Seconds for each of ``names`` out of ``left``: in proportion to the gaps (at least
    0.1 dB each), except that a model with a floor (``FLOORS``) gets its floor where its
    proportional share is smaller, if the call's ``budget`` is at least 4 times the floor
    and what is left still gives every other model ``min_share`` (so a floor never takes
    the time of models further behind).

    >>> given = shares(["denoise-color", "demosaic"], 100.0, 100.0)   # no floor in 100 s
    >>> {name: round(seconds) for name, seconds in given.items()}
    {'denoise-color': 82, 'demosaic': 18}
    """
    weight = {n: max(GAPS[n], 0.1) for n in names}
    total = sum(weight.values())
    floors = {n: FLOORS[n] for n in names
              if n in FLOORS and 4 * FLOORS[n] <= budget and left * weight[n] / total < FLOORS[n]}
    others = len(names) - len(floors)
    if floors and left - sum(floors.values()) < min_share * others:
        floors = {}
    rest = left - sum(floors.values())
    free = sum(weight[n] for n in names if n not in floors)
    return {n: floors[n] if n in floors else rest * weight[n] / free for n in names}


def kept_models(names: list[str], budget: float, min_share: float) -> list[str]:
    """The models whose share of ``budget`` (:func:`shares`) is at least ``min_share`` once
    the smaller shares are given to the others.

    >>> kept_models(["denoise-color", "demosaic", "sr-x3"], 100, 30)
    ['denoise-color']
    """
    kept = list(names)
    while kept:
        given = shares(kept, budget, budget, min_share)
        small = [n for n in kept if given[n] < min_share]
        if not small:
            break
        kept.remove(min(small, key=lambda n: GAPS[n]))
    return kept


def start_weights(name: str, init: str | None) -> str:
    """The weights a run of ``name`` warm-starts from: ``INIT/NAME/model.safetensors`` where
    an earlier call (``--init INIT``) left one, else the shipped file."""
    earlier = os.path.join(init or "", name, "model.safetensors")
    if init and os.path.exists(earlier):
        return earlier
    return os.path.join(ROOT, "panet", "weights", f"{name}.safetensors")


def read_log(folder: str, name: str = "metrics.jsonl") -> list[dict]:
    """The JSON records of a run's log (``name`` in ``folder``); [] where it has none."""
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def summarise(folder: str) -> dict:
    lines = read_log(folder)
    val = [(r["iteration"], r["val_psnr"]) for r in lines if "val_psnr" in r]
    rates = [r["it_per_s"] for r in lines if "it_per_s" in r][1:]   # the first holds start-up
    return {"iterations": max((r["iteration"] for r in lines), default=0),
            "it_per_s": round(sum(rates) / len(rates), 2) if rates else None,
            "val_psnr_start": round(val[0][1], 4) if val and val[0][0] == 0 else None,
            "val_psnr_end": round(val[-1][1], 4) if val else None,
            "weights": os.path.exists(os.path.join(folder, "model.safetensors"))}


def train_command(name: str, seconds: float, args, pipeline: str = "device"
                  ) -> tuple[list[str], dict]:
    """The ``panet train`` command of ``name``'s run, and what it starts from."""
    folder = os.path.join(args.out, name)
    init = start_weights(name, args.init)
    import yaml

    with open(os.path.join(CONFIGS, f"{name}.yaml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    lr = float(config["optim"]["lr"]) * args.lr_factor
    # a colour JPEG network trains beside its luma network's latest weights (model.luma_from)
    luma = config["model"].get("luma_from")
    luma = start_weights(os.path.splitext(os.path.basename(luma))[0], args.init) if luma else None
    command = [sys.executable, "-m", "panet", "train", os.path.join(CONFIGS, f"{name}.yaml"),
               "--out", folder, "--quiet",
               "--set", f"train.time_limit={max(5.0, seconds - OVERHEAD):.0f}",
               "--set", f"data.pipeline={pipeline}", "--set", f"model.init_from={init}",
               "--set", f"optim.lr={lr:g}", "--set", f"optim.warmup={args.warmup}",
               "--set", "train.iterations=10000000", "--set", f"train.val_every={args.val_every}",
               "--set", "train.save_every=1000000", "--set", "train.log_every=50",
               "--set", f"data.train={args.train}", "--set", f"data.val={args.val}",
               "--set", f"train.seed={args.seed}",
               "--set", f"train.precision={args.precision}",
               "--set", f"train.attention_kernel={args.attention_kernel}"] + \
        (["--set", f"model.luma_from={luma}"] if luma else [])
    # per-model overrides come last, so they win over the defaults above
    extra = DEFAULT_SETS.get(name, []) + [
        item for model, item in getattr(args, "model_set", None) or [] if model == name]
    for item in extra:
        command += ["--set", item]
    return command, {"init_from": os.path.relpath(init, ROOT), "lr": lr, "pipeline": pipeline,
                     "seed": args.seed, "precision": args.precision,
                     "attention_kernel": args.attention_kernel,
                     **({"set": extra} if extra else {}),
                     **({"luma_from": os.path.relpath(luma, ROOT)} if luma else {})}


def model_override(text: str) -> tuple[str, str]:
    """``NAME:KEY=VALUE`` as (NAME, ``KEY=VALUE``), for ``--set``.

    >>> model_override("denoise-gray:task.sigma=[0,30,30,50]")
    ('denoise-gray', 'task.sigma=[0,30,30,50]')
    """
    name, sep, item = text.partition(":")
    if not sep or name not in GAPS or "=" not in item:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME:KEY=VALUE with NAME one of {', '.join(GAPS)}")
    return name, item


def start_one(name: str, seconds: float, args,
              pipeline: str = "device") -> tuple[subprocess.Popen, dict]:
    command, info = train_command(name, seconds, args, pipeline)
    os.makedirs(os.path.join(args.out, name), exist_ok=True)
    log = open(os.path.join(args.out, f"{name}.log"), "w", encoding="utf-8")
    log.write(" ".join(command) + "\n")
    log.flush()
    # the checkout is importable whether or not panet is installed (a bare GPU machine)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [os.path.abspath(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    return process, {"started": time.time(), "share_seconds": round(seconds, 1), **info}


def finish(name: str, process: subprocess.Popen, info: dict, args, deadline: float) -> dict:
    """Wait for a run until ``deadline`` (then stop it: the budget is a hard limit)."""
    try:
        code = process.wait(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        info["stopped"] = "ran past the budget"
    started = info.pop("started")
    return {"exit_code": code, "wall_seconds": round(time.time() - started, 1), **info,
            **summarise(os.path.join(args.out, name))}


def bundle(out: str, names: list[str], target: str, limit: int = 15 * 2 ** 20) -> list[str]:
    """Pack the runs' results (no checkpoints, no TensorBoard) into tars under ``limit``."""
    files = [os.path.join(out, "summary.json")]
    for name in names:
        files += [os.path.join(out, f"{name}{tail}.log") for tail in ("", "-device-failed")] + [
            os.path.join(out, name, f) for f in ("model.safetensors", "metrics.jsonl",
                                                 "config.yaml", "curves.png")]
    groups: list[list[str]] = [[]]
    size = 0
    for path in (f for f in files if os.path.exists(f)):
        if groups[-1] and size + os.path.getsize(path) > limit:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += os.path.getsize(path)
    os.makedirs(target, exist_ok=True)
    written = []
    for index, group in enumerate(groups):
        path = os.path.join(target, f"device-runs-{index}.tar")
        with tarfile.open(path, "w") as archive:
            for member in group:
                archive.add(member, arcname=os.path.relpath(member, out))
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, required=True, help="seconds for all runs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", required=True, help="training images (scripts/pack_train_crops.py)")
    parser.add_argument("--val", required=True, help="held-out validation images")
    parser.add_argument("--only", help="comma-separated model names (default: all, by gap)")
    parser.add_argument("--init", help="folder of NAME/model.safetensors to start from (a "
                        "model without one there starts from its shipped weights)")
    parser.add_argument("--lr-factor", type=float, default=0.5,
                        help="warm starts use this fraction of the config's learning rate")
    parser.add_argument("--warmup", type=int, default=100)
    # A stage with the seed of the stage before it draws the same batches in the same order
    # (validation does not depend on it): each lease takes its own by default.
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000,
                        help="train.seed of every run (default: from the clock)")
    parser.add_argument("--val-every", type=int, default=500)
    # TF32 products moved the shipped weights' 256-px tiled validation scores by 0.003 dB
    # at most (emulated: scripts/score_val.py --precision tf32, docs/training.md) and move
    # the attention's products, about 2/3 of a step's flops, onto the tensor cores
    parser.add_argument("--precision", default="tf32", choices=("tf32", "fp32", "bf16"),
                        help="train.precision of every run (a per-model --set wins); tf32 is "
                        "float32 with TF32 tensor-core products on a CUDA GPU, fp32 elsewhere")
    # the kernel the shipped models trained with and every GPU rate so far was measured
    # on; "auto" (fused on CUDA) once benchmarks/gpu.py has shown it faster on the card
    parser.add_argument("--attention-kernel", default="blockwise",
                        choices=("blockwise", "auto", "sdpa"),
                        help="train.attention_kernel of every run (default: blockwise)")
    parser.add_argument("--min-share", type=float, default=45.0,
                        help="skip a model whose share of the budget is below this (s)")
    parser.add_argument("--parallel", action="store_true",
                        help="run all models at once, each for the whole budget (one start-up "
                             "overhead instead of one per model; the gaps only pick the order)")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="seconds a run may overrun its share before it is stopped")
    parser.add_argument("--bundle", help="also pack the results into tar files here")
    parser.add_argument("--set", dest="model_set", action="append", type=model_override,
                        metavar="NAME:KEY=VALUE", help="a panet train --set for one model's "
                        "run only (repeatable), e.g. 'denoise-gray:task.sigma=[0,30,30,50]'")
    args = parser.parse_args()
    names = sorted(GAPS, key=GAPS.get, reverse=True)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(GAPS))
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(GAPS)}")
        names = [n for n in names if n in wanted]
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    deadline = started + args.budget + args.grace
    summary: dict = {"budget_seconds": args.budget, "runs": {}}

    def record() -> None:   # after every run, so a lease cut short still returns results
        summary["wall_seconds"] = round(time.time() - started, 1)
        with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
        if args.bundle:
            bundle(args.out, names, args.bundle)

    try:
        import torch

        summary["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as error:   # the summary must still be written
        summary["device"] = f"unknown ({error})"
    if args.parallel:
        running = {name: start_one(name, args.budget, args) for name in names}
        for name, (process, info) in running.items():
            summary["runs"][name] = finish(name, process, info, args, deadline)
        record()
    kept = [] if args.parallel else kept_models(names, args.budget, args.min_share)
    for name in names:
        if name not in kept and not args.parallel:
            summary["runs"][name] = {"skipped": f"its share of {args.budget:.0f} s would be "
                                                f"under {args.min_share:.0f} s"}
    for index, name in enumerate(kept):
        left = args.budget - (time.time() - started)
        share = shares(kept[index:], left, args.budget, args.min_share)[name]
        if share < args.min_share / 2:
            summary["runs"][name] = {"skipped": f"only {share:.0f} s were left for it"}
            continue
        run_deadline = min(deadline, time.time() + share + args.grace)
        result = finish(name, *start_one(name, share, args), args, run_deadline)
        left = run_deadline - time.time()
        if result["exit_code"] != 0 and result["iterations"] == 0 and left > args.min_share / 2:
            # the device pipeline failed before its first step (a GPU it has never met):
            # the rest of the share goes to the CPU loader rather than to nothing
            os.replace(os.path.join(args.out, f"{name}.log"),
                       os.path.join(args.out, f"{name}-device-failed.log"))
            result = {"device_pipeline_failed": result, **finish(
                name, *start_one(name, left - args.grace, args, "loader"), args, run_deadline)}
        summary["runs"][name] = result
        print(name, json.dumps(summary["runs"][name]), flush=True)
        record()
    record()
    if args.bundle:
        print("bundled into", args.bundle)

if __name__ == "__main__":
    main()
