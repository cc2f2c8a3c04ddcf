"""Write the shipped models' cards (docs/models.md) and their full training records
(docs/history/models.md) from the weight files' metadata and the ``panet eval`` reports.

    python scripts/model_cards.py [--check]

A card is what a user reads in a minute: what the model does, its architecture and data,
its training summed per kind of hardware, its scores on offline-mini beside the classical
methods, its speed, its known weaknesses and the command that reproduces the scores.
Every stage of every training stays in the history page and in the file's metadata.
``scripts/package_weights.py`` calls this after shipping; ``--check`` only says whether
the pages are up to date (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from panet.checkpoints.native import read_metadata
from panet.pretrained import PRETRAINED, PretrainedEntry

S = "docs/eval/shipped/"   # panet eval reports of the shipped models (scripts/eval_docs.sh)
B = "docs/eval/"           # the classical baselines' reports on the same inputs

#: shipped name -> the eval reports its card shows
REPORTS = {
    "denoise-color": [S + "denoise", B + "denoise"],
    "denoise-gray": [S + "denoise-gray"],
    "demosaic": [S + "demosaic"],
    "jpeg-y": [S + "jpeg", B + "jpeg"],
    "jpeg-color": [S + "jpeg-color"],
    "sr-x2": [S + "sr-x2"],
    "sr-x3": [S + "sr-x3"],
    "sr-x4": [S + "sr-x4"],
}

#: shipped name -> (title, inputs it is for, known weaknesses), written from its results
ABOUT = {
    "denoise-color": (
        "Colour denoising",
        "RGB photos (8 or 16 bits, alpha kept) with white Gaussian noise of σ 0–75; blind.",
        "level with CBM3D at σ 30 (+0.04 dB PSNR, 0.002 lower SSIM); trained on synthetic "
        "Gaussian noise only, so a camera's signal-dependent noise is outside its training."),
    "denoise-gray": (
        "Gray denoising",
        "single-channel photos (8 or 16 bits) with white Gaussian noise of σ 0–75; blind.",
        "trails BM3D by 0.41 dB at σ 30 (ahead by 0.18 at σ 50) and is about 6× slower "
        "than it on one CPU thread."),
    "demosaic": (
        "Demosaicing",
        "Bayer mosaics (one sample per pixel) in any of the four patterns; noise-free.",
        "trained on RGGB only: the other patterns are restored by shifting the mosaic by "
        "one pixel; noisy raw data was not in its training."),
    "jpeg-y": (
        "JPEG artifact reduction on luma",
        "grey JPEG files, or the Y channel of colour ones (the paper's setting); blind over "
        "quality 10–40, the file's quantisation kept.",
        "scored at quality 10 and 20 only; above 40 it was never trained; colour JPEGs "
        "want `jpeg-color`."),
    "jpeg-color": (
        "Colour JPEG artifact reduction",
        "colour JPEG files, blind over quality 10–40; the file's quantisation is kept.",
        "runs two networks (luma by `jpeg-y`, chroma by its own), so it is 3.6× slower than "
        "the BM3D deblocker; grey tiles get no chroma by rule."),
    "sr-x2": (
        "Super-resolution ×2",
        "photos shrunk by 2 with bicubic (Matlab-style) downscaling; gives 2× the size.",
        "trained on bicubic-downscaled inputs only: real camera blur and noise are outside "
        "its training."),
    "sr-x3": (
        "Super-resolution ×3",
        "photos shrunk by 3 with bicubic (Matlab-style) downscaling; gives 3× the size.",
        "the least trained model (2,528 iterations): 0.85 dB over bicubic where ×2 gains "
        "1.5; bicubic-downscaled inputs only."),
    "sr-x4": (
        "Super-resolution ×4",
        "photos shrunk by 4 with bicubic (Matlab-style) downscaling; gives 4× the size.",
        "on the bundled picture of bricks and stripes it scores 0.1 dB under bicubic "
        "(`panet demo --task sr --level 4`); bicubic-downscaled inputs only."),
}

PAPER_ITERATIONS = 1_000_000   # the paper's training length (batch 16)


def hardware(machine: str) -> str:
    """The kind of hardware a stage's machine description names."""
    for prefix, kind in (("NVIDIA H200", "NVIDIA H200 GPU"), ("NVIDIA H100", "NVIDIA H100 GPU"),
                         ("AMD EPYC Zen 4", "AMD EPYC Zen 4 CPU, 2 cores"),
                         ("AMD EPYC", "AMD EPYC Zen 3 CPU, 2 cores")):
        if machine.startswith(prefix):
            return kind
    return machine.split(",")[0].split("(")[0].strip()


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


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 0.01:
        return "< 0.01"
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _machine(description: str) -> str:
    """'AMD EPYC, 1 threads, fast bfloat16 yes' (an eval report's) -> 'AMD EPYC, 1 thread'."""
    parts = description.split(", ")
    threads = next((p for p in parts if p.endswith("threads")), None)
    if threads is None:
        return parts[0]
    count = threads.split()[0]
    return f"{parts[0]}, {count} thread{'' if count == '1' else 's'}"


def training_table(stages: list[dict]) -> list[str]:
    """Iterations and wall-clock hours per kind of hardware, and the total."""
    kinds: dict[str, list[float]] = {}
    for stage in stages:
        total = kinds.setdefault(hardware(stage["machine"]), [0, 0.0])
        total[0] += stage["iterations"]
        total[1] += stage["wall_seconds"] / 3600
    lines = ["| trained on | iterations | hours |", "|---|---|---|"]
    lines += [f"| {kind} | {its:,} | {hours:.2f} |" for kind, (its, hours) in kinds.items()]
    its = sum(v[0] for v in kinds.values())
    hours = sum(v[1] for v in kinds.values())
    lines.append(f"| **total** ({len(stages)} stages) | **{its:,}** | **{hours:.2f}** |")
    return lines


def score_table(name: str, reports: list[dict]) -> list[str]:
    """Every method's mean PSNR / SSIM per level, with its seconds per megapixel."""
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    seconds: dict[str, float] = {}
    for report in reports:
        for key, (psnr_db, ssim) in report["psnr_ssim"].items():
            method, _, level = key.rsplit(" ", 2)
            method = f"**`{name}`**" if method in ("shipped", name) else method
            if level not in columns:
                columns.append(level)
            rows.setdefault(method, {})[level] = f"{psnr_db:.2f} / {ssim:.4f}"
        for method, value in report["seconds_per_megapixel"].items():
            seconds[f"**`{name}`**" if method in ("shipped", name) else method] = value
    lines = ["| PSNR dB / SSIM | " + " | ".join(columns) + " | s / MP |",
             "|---" * (len(columns) + 2) + "|"]
    for method, cells in rows.items():
        lines.append(f"| {method} | " + " | ".join(cells.get(c, "") for c in columns) +
                     f" | {_seconds(seconds.get(method))} |")
    return lines


def card_markdown(entry: PretrainedEntry, card: dict, reports: list[dict]) -> str:
    """One model's card: at most 40 lines and 2,500 characters."""
    title, inputs, weaknesses = ABOUT[entry.name]
    family, _, detail = entry.description.partition("; ")
    lines = [f"### {title}: `{entry.name}`", "",
             f"**For** {inputs}", "",
             f"**Network**: {detail or family}; {card['parameters']:,} parameters "
             f"(`{card['config']}`). **Data**: crops of 111 photos of the offline-train set; "
             "never the test photos.", ""]
    if entry.luma_from:
        lines += [f"It restores in two parts: `{entry.luma_from}` gives the luma, this "
                  "network the chroma. The scores are the pair's.", ""]
    lines += training_table(card["stages"]) + [""]
    lines += [f"On offline-mini (11 test photos), beside the classical methods; s / MP is "
              f"time per megapixel on {_machine(reports[0]['machine'])}:" if reports else "",
              ""]
    lines += score_table(entry.name, reports) + [""]
    lines += [f"**Weaknesses**: {weaknesses} All the shipped models are far from "
              f"converged ({card['iterations']:,} iterations against the paper's "
              f"{PAPER_ITERATIONS:,}).", "", "**Reproduce**:", "", "```bash"]
    lines += [report["command"] for report in reports] + ["```", ""]
    return "\n".join(lines)


def stages_markdown(entry: PretrainedEntry, card: dict) -> str:
    """Every training stage of one model, in full, for the history page."""
    lines = [f"### `{entry.name}`", "", f"Weights: {card['weights']}.",
             f"Data: {card['training_data']}.", ""]
    for number, stage in enumerate(card["stages"], 1):
        change = ""
        if "val_psnr_before" in stage:
            pair = stage.get("trained_as_pair_with")
            pair = f", as the pair with `{os.path.splitext(os.path.basename(pair))[0]}`" \
                if pair else ""
            change = (f" Held-out validation crops{pair}: {stage['val_psnr_before']:.2f} → "
                      f"{stage['val_psnr_after']:.2f} dB.")
        lines.append(f"{number}. {stage['iterations']:,} iterations in "
                     f"{stage['wall_seconds']} s on {stage['machine']}.{change}")
    return "\n".join(lines) + "\n"


def replace_block(document: str, marker: str, text: str, path: str) -> str:
    """``document`` with ``text`` between ``<!-- MARKER: start -->`` and its end marker."""
    start, end = f"<!-- {marker}: start -->", f"<!-- {marker}: end -->"
    if start not in document or end not in document:
        raise SystemExit(f"{path} has no {start} ... {end} block")
    head, rest = document.split(start, 1)
    return f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"


def render(weights: str = "panet/weights") -> tuple[str, str]:
    """(the cards, the full training records) of every shipped model."""
    cards, records = [], []
    for entry in PRETRAINED:
        card = json.loads(read_metadata(os.path.join(weights, entry.file))["card"])
        cards.append(card_markdown(entry, card, measured(REPORTS[entry.name])))
        records.append(stages_markdown(entry, card))
    return "\n".join(cards), "\n".join(records)


def write_pages(weights: str = "panet/weights", cards_path: str = "docs/models.md",
                history_path: str = "docs/history/models.md", check: bool = False) -> list[str]:
    """Rewrite the card and record blocks (or, with ``check``, only compare); returns the
    pages that were out of date."""
    cards, records = render(weights)
    stale = []
    for path, marker, text in ((cards_path, "shipped cards", cards),
                               (history_path, "training records", records)):
        with open(path, encoding="utf-8") as handle:
            document = handle.read()
        updated = replace_block(document, marker, text, path)
        if updated != document:
            stale.append(path)
            if not check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(updated)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="panet/weights", help="folder of the shipped files")
    parser.add_argument("--cards", default="docs/models.md")
    parser.add_argument("--history", default="docs/history/models.md")
    parser.add_argument("--check", action="store_true",
                        help="only say whether the pages are up to date")
    args = parser.parse_args()
    stale = write_pages(args.weights, args.cards, args.history, args.check)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/model_cards.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
