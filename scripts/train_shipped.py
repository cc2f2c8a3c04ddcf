"""Train the shipped models (configs/shipped/*.yaml) side by side for a fixed wall time.

    python scripts/train_shipped.py --time-limit 420 --out runs/shipped \
        [--train FOLDER --val FOLDER] [--only denoise-color,sr-x2]

One ``panet train`` process per configuration, all at once (on one GPU they share it), each
with ``train.time_limit`` set so that its cosine schedule ends on time. A run that fails
early is started again without attention (the attention-free ResNet of the paper's
ablation), so that one broken configuration does not leave a task without weights; the
summary says so. Writes OUT/summary.json and each run's folder (OUT/NAME).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "shipped")


def launch(name: str, out: str, seconds: float, extra: list[str]) -> subprocess.Popen:
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    command = [sys.executable, "-m", "panet", "train", os.path.join(CONFIGS, f"{name}.yaml"),
               "--out", folder, "--quiet", "--set", f"train.time_limit={seconds:.0f}", *extra]
    log = open(os.path.join(out, f"{name}.log"), "a", encoding="utf-8")
    log.write(" ".join(command) + "\n")
    log.flush()
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, required=True, help="seconds per run")
    parser.add_argument("--out", required=True)
    parser.add_argument("--train", help="training images (overrides data.train)")
    parser.add_argument("--val", help="validation images (overrides data.val)")
    parser.add_argument("--only", help="comma-separated configuration names")
    args = parser.parse_args()
    names = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(CONFIGS, "*.yaml")))
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    extra = []
    if args.train:
        extra += ["--set", f"data.train={args.train}"]
    if args.val:
        extra += ["--set", f"data.val={args.val}"]
    started = time.time()
    running = {name: launch(name, args.out, args.time_limit, extra) for name in names}
    summary = {name: {"attention": True} for name in names}
    while running:
        time.sleep(2)
        for name, process in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            del running[name]
            summary[name]["exit_code"] = code
            left = args.time_limit - (time.time() - started)
            if code != 0 and summary[name]["attention"] and left > 0.4 * args.time_limit:
                # Start over without attention in a fresh folder, with the time left.
                summary[name] = {"attention": False, "first_exit_code": code}
                running[name] = launch(name, args.out, left, extra + [
                    "--set", "model.options.attention_positions=[]",
                    "--out", os.path.join(args.out, f"{name}-no-attention")])
    for name in names:
        folder = os.path.join(args.out, name if summary[name]["attention"]
                              else f"{name}-no-attention")
        lines = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))] \
            if os.path.exists(os.path.join(folder, "metrics.jsonl")) else []
        val = [line["val_psnr"] for line in lines if "val_psnr" in line]
        summary[name].update(folder=folder, last_val_psnr=val[-1] if val else None,
                             iterations=max((line["iteration"] for line in lines), default=0),
                             weights=os.path.exists(os.path.join(folder, "model.safetensors")))
    summary["wall_seconds"] = round(time.time() - started)
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
