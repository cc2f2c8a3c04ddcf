"""Write the shipped weight files (panet/weights/*.safetensors) with their model cards.

    python scripts/package_weights.py [--add NAME RUN "MACHINE"]...

Each shipped model comes from one or more training stages; the card in the file's metadata
records the architecture, parameter count, every stage's iterations, wall time and machine,
and the PSNR/SSIM measured by ``panet eval`` (the JSON reports under docs/eval, where
present). ``--add`` ships a new stage (a ``panet train`` run folder, usually warm-started
from the shipped file) and appends it to the card; without it the files are rewritten with
fresh eval results. Tensors are stored in float16 (half the size; models are rebuilt in
float32 on loading).

When to re-ship: replace a shipped weight file only when one of its card levels gains at
least 0.1 dB, or when it reaches its target. Every re-ship stays in the git history for
good and adds about 15 MB to every clone (.git was 155 MB for a 27 MB working tree).
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import yaml

from panet.checkpoints import load_model, save_model
from panet.checkpoints.native import read_metadata
from panet.models import count_parameters
from panet.pretrained import PRETRAINED

S = "docs/eval/shipped/"   # panet eval reports of the shipped models (scripts/eval_docs.sh)
B = "docs/eval/"           # the classical baselines' reports on the same inputs

#: shipped file -> (config, eval reports); the training stages live in each file's card
SHIPPED = {
    "denoise-color.safetensors": ("configs/shipped/denoise-color.yaml",
                                  [S + "denoise", B + "denoise"]),
    "denoise-gray.safetensors": ("configs/shipped/denoise-gray.yaml", [S + "denoise-gray"]),
    "demosaic.safetensors": ("configs/shipped/demosaic.yaml", [S + "demosaic"]),
    "jpeg-y.safetensors": ("configs/shipped/jpeg-y.yaml", [S + "jpeg", B + "jpeg"]),
    "jpeg-color.safetensors": ("configs/shipped/jpeg-color.yaml", [S + "jpeg-color"]),
    "sr-x2.safetensors": ("configs/shipped/sr-x2.yaml", [S + "sr-x2"]),
    "sr-x3.safetensors": ("configs/shipped/sr-x3.yaml", [S + "sr-x3"]),
    "sr-x4.safetensors": ("configs/shipped/sr-x4.yaml", [S + "sr-x4"]),
}

#: panet restore's default tile and overlap, where they differ from the training crop and
#: the sixth-of-a-tile rule: chosen on the validation crops, within the time of 48-px tiles
#: overlapping by 8 (gray denoising: unbounded) (docs/restore.md, "Which tile and overlap")
RESTORE_TILING = {"denoise-color.safetensors": (40, 12), "denoise-gray.safetensors": (48, 24),
                  "demosaic.safetensors": (40, 12)}


def new_stage(run: str, machine: str, previous: str) -> dict:
    """A training stage from a ``panet train`` run folder, with its validation PSNR and the
    previous weights' score on the same crops (the first ``val_psnr`` of a warm start)."""
    meta = read_metadata(os.path.join(run, "model.safetensors"))
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as handle:
        scores = [(r["iteration"], r["val_psnr"]) for r in map(json.loads, handle)
                  if "val_psnr" in r]
    with open(os.path.join(run, "config.yaml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    data = config["data"]
    stage = {"iterations": int(meta["iterations"]), "wall_seconds": int(meta["train_seconds"]),
             "machine": machine, "run": run, "started_from": previous,
             "train_images": data["train"], "validation_images": data["val"]}
    luma = config["model"].get("luma_from")
    if luma:   # trained and validated as the two-part model, this network giving the chroma
        stage["trained_as_pair_with"] = luma
    if scores and scores[0][0] == 0:
        stage["val_psnr_before"] = round(scores[0][1], 3)
    if scores:
        stage["val_psnr_after"] = round(scores[-1][1], 3)
    return stage


def measured(folders: list[str]) -> list[dict]:
    """Mean PSNR/SSIM and time per megapixel of every method in the eval reports (JSON
    written by ``panet eval``), each with the command and machine that produced it."""
    reports = []
    for folder in folders:
        path = os.path.join(folder, "results.json")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        reports.append({
            "command": data["metadata"]["command"], "machine": data["metadata"]["machine"],
            "psnr_ssim": {f"{m['method']} {m['dataset']} {m['level']}":
                          [round(m["psnr"], 2), round(m["ssim"], 4)] for m in data["means"]},
            "seconds_per_megapixel": {k: round(v, 1) for k, v in
                                      data["seconds_per_megapixel"].items()}})
    return reports


def card_markdown(name: str, card: dict) -> str:
    """One model's card for docs/models.md: training, then every method's mean scores."""
    stages = "; ".join(f"{s['iterations']:,} iterations in {s['wall_seconds']} s on {s['machine']}"
                       + (f" (held-out validation crops{_as_pair(s)} {s['val_psnr_before']:.2f}"
                          f" → {s['val_psnr_after']:.2f} dB)" if "val_psnr_before" in s else "")
                       for s in card["stages"])
    lines = [f"#### `{os.path.splitext(name)[0]}`", "",
             f"- {card['parameters']:,} parameters; configuration `{card['config']}`.",
             f"- Training: {stages}.", f"- Data: {card['training_data']}.",
             f"- Weights: {card['weights']}."]
    entry = next((e for e in PRETRAINED if e.file == name), None)
    if entry is not None and entry.luma_from:
        lines.append(f"- Restores in two parts (`LumaChromaJPEG`, panet/models/composite.py): "
                     f"the luma comes from `{entry.luma_from}` (its card), this file's network "
                     "gives the chroma. The rows below score the pair.")
    lines.append("")
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    seconds: dict[str, float] = {}
    for report in card["results_offline_mini"]:
        for key, (psnr_db, ssim) in report["psnr_ssim"].items():
            method, dataset, level = key.rsplit(" ", 2)
            column = f"{dataset} {level}"
            if column not in columns:
                columns.append(column)
            rows.setdefault(method, {})[column] = f"{psnr_db:.2f} / {ssim:.4f}"
        seconds.update(report["seconds_per_megapixel"])
    if rows:
        lines.append("| method | " + " | ".join(columns) + " | s / MP |")
        lines.append("|---" * (len(columns) + 2) + "|")
        for method, cells in rows.items():
            time = seconds.get(method)
            lines.append(f"| {method} | " + " | ".join(cells.get(c, "") for c in columns) +
                         " | " + _seconds(time) + " |")
        lines.append("")
        for report in card["results_offline_mini"]:
            lines.append(f"`{report['command']}` ({report['machine']})  ")
        lines.append("")
    return "\n".join(lines)


def _as_pair(stage: dict) -> str:
    luma = stage.get("trained_as_pair_with")
    return "" if not luma else \
        f", as the pair with `{os.path.splitext(os.path.basename(luma))[0]}`"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 0.01:
        return "< 0.01"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def replace_block(path: str, text: str) -> None:
    """Put ``text`` between the card markers of ``path`` (docs/models.md)."""
    start, end = "<!-- shipped cards: start -->", "<!-- shipped cards: end -->"
    with open(path, encoding="utf-8") as handle:
        document = handle.read()
    if start not in document or end not in document:
        raise SystemExit(f"{path} has no {start} ... {end} block")
    head, rest = document.split(start, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs=3, action="append", default=[],
                        metavar=("NAME", "RUN", "MACHINE"),
                        help="ship RUN/model.safetensors as NAME, as a new training stage on "
                             "MACHINE (a description: CPU or GPU, cores, what ran beside it)")
    parser.add_argument("--force", metavar="WHY",
                        help="ship an added stage even if it did not beat the previous weights "
                             "on the training's validation crops; WHY (the evidence that it is "
                             "better anyway) goes into its card")
    parser.add_argument("--out", default="panet/weights",
                        help="folder of the shipped files (read and rewritten)")
    parser.add_argument("--cards", default="docs/models.md",
                        help="markdown file whose card block is rewritten")
    args = parser.parse_args()
    added = {name: (run, machine) for name, run, machine in args.add}
    unknown = sorted(set(added) - {os.path.splitext(n)[0] for n in SHIPPED})
    if unknown:
        parser.error(f"unknown shipped model(s): {', '.join(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    cards = []
    for name, (config, report) in SHIPPED.items():
        current = os.path.join(args.out, name)
        old = json.loads(read_metadata(current)["card"])
        stages = list(old["stages"])
        weights = old["weights"]
        model = load_model(current)
        if os.path.splitext(name)[0] in added:
            run, machine = added[os.path.splitext(name)[0]]
            model = load_model(os.path.join(run, "model.safetensors"))
            if any(s.get("run") == run for s in stages):
                raise SystemExit(f"{name}: {run} is already a stage of its card")
            stage = new_stage(run, machine, f"the shipped {name} of {len(stages)} stage(s)")
            better = stage.get("val_psnr_after", 0) > stage.get("val_psnr_before", 1e9)
            if not better and not args.force:
                raise SystemExit(f"{name}: {run} did not beat the shipped weights on the "
                                 f"validation crops ({stage.get('val_psnr_before')} -> "
                                 f"{stage.get('val_psnr_after')} dB); --force WHY ships it anyway")
            stages.append(stage)
            decay = read_metadata(os.path.join(run, "model.safetensors")).get("ema")
            what = (f"the moving average of the weights (train.ema {decay}) at the end of the "
                    "last stage" if decay else "the last iteration of the last stage")
            weights = (f"{what}, shipped because it beat the previous weights on the held-out "
                       "validation crops" if better
                       else f"{what}, shipped although it did not beat the previous weights "
                       f"on the training's validation crops: {args.force}")
        card = {"config": config, "parameters": count_parameters(model),
                "training_data": old["training_data"], "stages": stages,
                "iterations": sum(s["iterations"] for s in stages),
                "weights": weights, "results_offline_mini": measured(report)}
        # panet restore's default tile: the training crop (patch_size of the last stage),
        # unless RESTORE_TILING names another
        with open(config, encoding="utf-8") as handle:
            patch = yaml.safe_load(handle)["data"]["patch_size"]
        metadata = {"task": model.metadata["task"], "card": json.dumps(card),
                    "restore_tile": str(patch)}
        if name in RESTORE_TILING:
            tile, overlap = RESTORE_TILING[name]
            metadata.update(restore_tile=str(tile), restore_overlap=str(overlap))
        save_model(model.half(), current, metadata)
        cards.append(card_markdown(name, card))
        print(f"{name}: {card['parameters']:,} parameters, {card['iterations']} iterations, "
              f"{os.path.getsize(current) / 2**20:.1f} MiB")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(args.out, "*.safetensors")))
    print(f"total {total / 2**20:.1f} MiB")
    replace_block(args.cards, "\n".join(cards))


if __name__ == "__main__":
    main()
