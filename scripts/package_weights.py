"""Write the shipped weight files (panet/weights/*.safetensors) with their model cards.

    python scripts/package_weights.py [--runs runs]

Each shipped model comes from one or more training stages (run folders holding a
``model.safetensors`` written by ``panet train``); the card in the file's metadata records
the architecture, parameter count, every stage's iterations and wall time, the machine, and
the PSNR/SSIM measured by ``panet eval`` (the JSON reports under docs/eval, where present). Tensors are
stored in float16 (half the size; models are rebuilt in float32 on loading).
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

GPU_STAGE_1 = ("NVIDIA H200 (lent to issue 6; 2 CPU cores visible), shared by 8 runs at once; "
               "data loading on the 2 cores limited each run to about 2-4 iterations/s")
GPU_STAGE_2 = "NVIDIA H200 (lent to issue 6), alone: about 18.5 iterations/s"
TRAINING_DATA = ("offline-train crops (scripts/pack_train_crops.py: 111 images, 39 MiB; "
                 "3 other training photos held out for validation); never offline-mini")

S = "docs/eval/shipped/"   # panet eval reports of the shipped models (scripts/eval_docs.sh)
B = "docs/eval/"           # the classical baselines' reports on the same inputs

#: shipped file -> (config, [(run folder under --runs, machine)], eval reports)
SHIPPED = {
    "denoise-color.safetensors": ("configs/shipped/denoise-color.yaml",
                                  [("gpu1/denoise-color", GPU_STAGE_1),
                                   ("gpu2-denoise-color", GPU_STAGE_2)],
                                  [S + "denoise", B + "denoise"]),
    "denoise-gray.safetensors": ("configs/shipped/denoise-gray.yaml",
                                 [("gpu1/denoise-gray", GPU_STAGE_1)], [S + "denoise-gray"]),
    "demosaic.safetensors": ("configs/shipped/demosaic.yaml",
                             [("gpu1/demosaic", GPU_STAGE_1)], [S + "demosaic"]),
    "jpeg-y.safetensors": ("configs/shipped/jpeg-y.yaml",
                           [("gpu1/jpeg-y", GPU_STAGE_1), ("gpu3-jpeg-y", GPU_STAGE_2)],
                           [S + "jpeg", B + "jpeg"]),
    "jpeg-color.safetensors": ("configs/shipped/jpeg-color.yaml",
                               [("gpu1/jpeg-color", GPU_STAGE_1)], [S + "jpeg-color"]),
    "sr-x2.safetensors": ("configs/shipped/sr-x2.yaml", [("gpu1/sr-x2", GPU_STAGE_1)],
                          [S + "sr-x2"]),
    "sr-x3.safetensors": ("configs/shipped/sr-x3.yaml", [("gpu1/sr-x3", GPU_STAGE_1)],
                          [S + "sr-x3"]),
    "sr-x4.safetensors": ("configs/shipped/sr-x4.yaml", [("gpu1/sr-x4", GPU_STAGE_1)],
                          [S + "sr-x4"]),
}


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
                       for s in card["stages"])
    lines = [f"#### `{os.path.splitext(name)[0]}`", "",
             f"- {card['parameters']:,} parameters; configuration `{card['config']}`.",
             f"- Training: {stages}.", f"- Data: {card['training_data']}.",
             f"- Weights: {card['weights']}.", ""]
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
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="panet/weights")
    parser.add_argument("--cards", default="docs/models.md",
                        help="markdown file whose card block is rewritten")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cards = []
    for name, (config, stages, report) in SHIPPED.items():
        final = os.path.join(args.runs, stages[-1][0], "model.safetensors")
        model = load_model(final)
        stage_cards = []
        for folder, machine in stages:
            meta = read_metadata(os.path.join(args.runs, folder, "model.safetensors"))
            stage_cards.append({"iterations": int(meta["iterations"]),
                                "wall_seconds": int(meta.get("train_seconds", "0")),
                                "machine": machine})
        card = {"config": config, "parameters": count_parameters(model),
                "training_data": TRAINING_DATA, "stages": stage_cards,
                "iterations": sum(s["iterations"] for s in stage_cards),
                "weights": "the last iteration of the last stage (no selection on any set)",
                "results_offline_mini": measured(report)}
        # panet restore's default tile: the training crop (patch_size of the last stage)
        with open(config, encoding="utf-8") as handle:
            patch = yaml.safe_load(handle)["data"]["patch_size"]
        metadata = {"task": model.metadata["task"], "card": json.dumps(card),
                    "restore_tile": str(patch)}
        save_model(model.half(), os.path.join(args.out, name), metadata)
        cards.append(card_markdown(name, card))
        print(f"{name}: {card['parameters']:,} parameters, {card['iterations']} iterations, "
              f"{os.path.getsize(os.path.join(args.out, name)) / 2**20:.1f} MiB")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(args.out, "*.safetensors")))
    print(f"total {total / 2**20:.1f} MiB")
    replace_block(args.cards, "\n".join(cards))


if __name__ == "__main__":
    main()
