"""Write ``docs/ablation.md`` from ``docs/ablation/results.json`` (``ablation_study.py``
calls it after every scored run; ``--report-only`` rebuilds it alone)."""

from __future__ import annotations

import json
import os
import statistics
from typing import Any

#: The paper's Urban100 PSNR for the variants that have a printed number (§4.9; which of
#: Table 9's single positions is pre and which post is lost in our copy of the paper).
PAPER = {"resnet": 30.86, "nonlocal-pixel": 31.14, "nonlocal-block": 31.21, "pyramid": 31.29,
         "levels-2": 31.23, "levels-3": 31.25, "levels-4": 31.28, "pre-mid-post": 31.48}

#: Which table each variant answers, and the baseline it is paired with.
TABLES = [
    ("Table 6: does attention help, and does the pyramid beat non-local attention?",
     ["resnet", "nonlocal-pixel", "pyramid"]),
    ("Table 7: pixel matching against 3x3 block matching (one scale)",
     ["nonlocal-pixel", "nonlocal-block"]),
    ("Table 8: pyramid levels (1 level is nonlocal-block, 5 levels is pyramid)",
     ["resnet", "nonlocal-block", "levels-2", "levels-3", "levels-4", "pyramid"]),
    ("Table 9: where the attention sits (pyramid is mid)",
     ["resnet", "pre", "pyramid", "post", "pre-mid-post"]),
]


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _paired(rows: list[dict], variant: str, baseline: str, test_set: str) -> list[float]:
    """PSNR differences variant - baseline, seed by seed (seeds both have)."""
    by = {(r["variant"], r["seed"]): r["psnr"] for r in rows if r["test_set"] == test_set}
    return [by[(variant, s)] - by[(baseline, s)] for (v, s) in by
            if v == variant and (baseline, s) in by]


def render(rows: list[dict], study: dict[str, Any], study_path: str) -> str:
    base = study["base"]
    train, data, optim = base.get("train", {}), base.get("data", {}), base.get("optim", {})
    task = base.get("task", {})
    test_sets = sorted({r["test_set"] for r in rows}) or ["offline-mini"]
    lines = [
        "# The paper's ablation, rerun",
        "",
        "Pyramid Attention Networks' §4.9 asks whether the pyramid attention earns its cost:",
        "a ResNet without attention, single-scale non-local attention (pixel and 3×3 block",
        "matching), the five-level pyramid, fewer levels, and other positions in the network.",
        "The paper reports one run per cell on Urban100; here every variant is trained with",
        "several seeds at a scale two CPU cores afford, and compared with its baseline seed by",
        "seed.",
        "",
        "## Protocol",
        "",
        f"- Network: `{base['model']['name']}` (8 ResBlocks of 64 features; attention after",
        "  the 4th, 1st or 8th), attention as the paper's (reduction 2, 3×3 patches,",
        "  softmax scale 10) unless the variant changes it.",
        f"- Task: colour denoising, σ {task.get('sigma')} (8-bit clipped noisy inputs). The",
        "  paper's text does not say which σ its ablation used.",
        f"- Training: {train.get('iterations')} iterations of batch {train.get('batch_size')},",
        f"  {data.get('patch_size')}² crops of offline-train, Adam at {optim.get('lr')} with a",
        f"  {optim.get('schedule')} schedule, {train.get('precision')}, one thread per run.",
        "- Seeds: a seed fixes the data order and the initial weights of every layer the",
        "  variants share (copied from an attention-free network made with that seed).",
        f"- Scoring: the last iteration's weights, `panet eval` on "
        f"{study['eval']['crop']}-px centre crops in {study['eval']['tile']}-px tiles",
        f"  (overlap {study['eval']['overlap']}), noise seed {study['eval']['seed']}.",
        "- Test sets: offline-mini (11 photos) and offline-structure, the offline-train photos",
        "  held out of training because they are richest in repeated structure:",
        "  " + (", ".join(f"`{p}`" for p in study.get("structure_photos") or []) or "none yet")
        + ".",
        "",
        "Rerun or extend it (resumes, skips what is scored here):",
        "",
        "```bash",
        "panet data fetch train",
        f"python scripts/ablation_study.py {study_path}",
        "```",
        "",
    ]
    machines = sorted({r.get("machine", "?") for r in rows})
    hours = sum(r["cpu_hours"] for r in rows if r["test_set"] == test_sets[0])
    runs = len({(r["variant"], r["seed"]) for r in rows})
    lines += [f"{runs} runs scored, {hours:.1f} CPU hours of training, on: "
              + ("; ".join(machines) if machines else "none yet") + ".", ""]
    for test_set in test_sets:
        lines += [f"## Results on {test_set}", ""]
        for title, variants in TABLES:
            lines += [f"### {title}", "",
                      "| variant | seeds | PSNR (dB) | SSIM | − resnet, paired (dB) | "
                      "seeds above resnet | paper (Urban100) |", "|---|---|---|---|---|---|---|"]
            for variant in variants:
                mine = [r for r in rows if r["variant"] == variant and r["test_set"] == test_set]
                psnr = [r["psnr"] for r in mine]
                ssim = [r["ssim"] for r in mine]
                paired = _paired(rows, variant, "resnet", test_set) if variant != "resnet" \
                    else []
                paper = PAPER.get(variant)
                lines.append(f"| {variant} | {len(mine)} | {_mean_sd(psnr)} | "
                             f"{f'{statistics.mean(ssim):.4f}' if ssim else '-'} | "
                             f"{_mean_sd(paired) if paired else '-'} | "
                             f"{f'{sum(d > 0 for d in paired)} of {len(paired)}' if paired else '-'} | "
                             f"{f'{paper:.2f}' if paper else '-'} |")
            lines.append("")
    lines += ["Means ± standard deviations over seeds; a paired difference is taken seed by",
              "seed against the ResNet of the same seed. Every run, with its iterations and",
              "CPU hours: [ablation/results.json](ablation/results.json).", ""]
    return "\n".join(lines)


def write_report(results_path: str, report_path: str, study: dict, study_path: str) -> None:
    from panet.files import atomic_output

    rows = []
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as handle:
            rows = json.load(handle)
    text = render(rows, study, os.path.relpath(study_path))
    with atomic_output(report_path) as partial, open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
