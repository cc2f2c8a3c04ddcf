"""Write ``docs/ablation.md`` from ``docs/ablation/results.json`` (``ablation_study.py``
calls it after every scored run; ``--report-only`` rebuilds it alone)."""

from __future__ import annotations

import glob
import json
import math
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


#: The paper's orderings (§4.9) as (claim, better variant, worse variant, the paper's gap
#: in dB on Urban100, or None where our copy of the paper has no number).
CLAIMS = [
    ("pixel non-local attention beats no attention", "nonlocal-pixel", "resnet", 0.28),
    ("pyramid attention beats no attention", "pyramid", "resnet", 0.43),
    ("pyramid attention beats pixel non-local attention", "pyramid", "nonlocal-pixel", 0.15),
    ("3×3 block matching beats pixel matching", "nonlocal-block", "nonlocal-pixel", 0.07),
    ("2 levels beat 1", "levels-2", "nonlocal-block", 0.02),
    ("3 levels beat 2", "levels-3", "levels-2", 0.02),
    ("4 levels beat 3", "levels-4", "levels-3", 0.03),
    ("5 levels beat 4", "pyramid", "levels-4", 0.01),
    ("the middle beats the first position", "pyramid", "pre", None),
    ("the middle beats the last position", "pyramid", "post", None),
    ("all three positions beat the middle alone", "pre-mid-post", "pyramid", 0.19),
]

#: Two-sided 95% Student t quantiles by degrees of freedom (1-9), for paired intervals.
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def verdict(differences: list[float]) -> str:
    """Where the paired differences' 95% interval (Student t) lies against zero."""
    if len(differences) < 2:
        return "one seed: undecided"
    mean, sd = statistics.mean(differences), statistics.stdev(differences)
    half = T95.get(len(differences) - 1, 2.0) * sd / len(differences) ** 0.5
    if mean - half > 0:
        return "holds"
    if mean + half < 0:
        return "reversed"
    return "same direction, within seed noise" if mean > 0 else \
        "opposite direction, within seed noise"


def seeds_to_settle(differences: list[float], gap: float | None) -> str:
    """Seeds for a standard error of a quarter of the gap (the paper's, else ours)."""
    if len(differences) < 2:
        return "-"
    gap = abs(gap if gap else statistics.mean(differences))
    sd = statistics.stdev(differences)
    if gap <= 0:
        return "-"
    seeds = max(2, math.ceil((4 * sd / gap) ** 2))
    return str(seeds) if seeds <= 1000 else "> 1000"


def paper_gap_fits(differences: list[float], gap: float | None) -> str:
    """Whether the paper's gap lies inside our 95% interval of the paired difference."""
    if gap is None or len(differences) < 2:
        return "-"
    mean, sd = statistics.mean(differences), statistics.stdev(differences)
    half = T95.get(len(differences) - 1, 2.0) * sd / len(differences) ** 0.5
    if gap > mean + half:
        return "no: smaller here"
    return "no: larger here" if gap < mean - half else "yes"


def learning_curves(work: str, variants: list[str], window: int = 200
                    ) -> dict[str, list[list[float]]]:
    """variant -> [[last iteration of the window, mean training loss]]: each run's logged
    losses averaged over windows of ``window`` iterations, then over the variant's seeds."""
    curves = {}
    for variant in variants:
        per_seed = []
        for path in sorted(glob.glob(os.path.join(work, f"{variant}-seed*", "metrics.jsonl"))):
            if not os.path.isfile(os.path.join(os.path.dirname(path), "model.safetensors")):
                continue   # still training
            buckets: dict[int, list[float]] = {}
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    entry = json.loads(line)
                    if "loss" in entry and entry["iteration"] > 0:
                        buckets.setdefault((entry["iteration"] - 1) // window, []).append(
                            entry["loss"])
            per_seed.append({k: statistics.mean(v) for k, v in buckets.items()})
        shared = set.intersection(*(set(p) for p in per_seed)) if per_seed else set()
        if shared:
            curves[variant] = [[(k + 1) * window,
                                round(statistics.mean(p[k] for p in per_seed), 6)]
                               for k in sorted(shared)]
    return curves


def write_curves(work: str, folder: str, variants: list[str]) -> None:
    """``curves.json`` and ``curves.png`` in ``folder`` from the runs in ``work`` (kept as
    they are where the runs are not on this machine)."""
    curves = learning_curves(work, variants)
    if not curves:
        return
    from panet.files import atomic_output

    os.makedirs(folder, exist_ok=True)
    with atomic_output(os.path.join(folder, "curves.json")) as partial, \
            open(partial, "w", encoding="utf-8") as handle:
        json.dump(curves, handle, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    panels = [("no attention and one scale (Tables 6, 7)", TABLES[0][1] + ["nonlocal-block"]),
              ("levels and positions (Tables 8, 9)",
               ["resnet", "levels-2", "levels-3", "levels-4", "pyramid", "pre", "post",
                "pre-mid-post"])]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, (title, names) in zip(axes, panels):
        for name in names:
            if name in curves:
                points = curves[name][1:]   # the first window is mostly warm-up
                axis.plot([p[0] for p in points], [p[1] for p in points], label=name)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("iteration")
        axis.legend(fontsize=8)
    axes[0].set_ylabel("training L1 loss (window mean, seeds averaged)")
    figure.tight_layout()
    with atomic_output(os.path.join(folder, "curves.png")) as partial:
        figure.savefig(partial, format="png", dpi=90)
    plt.close(figure)


def _paired(rows: list[dict], variant: str, baseline: str, test_set: str) -> list[float]:
    """PSNR differences variant - baseline, seed by seed (seeds both have)."""
    by = {(r["variant"], r["seed"]): r["psnr"] for r in rows if r["test_set"] == test_set}
    return [by[(variant, s)] - by[(baseline, s)] for (v, s) in by
            if v == variant and (baseline, s) in by]


#: What the verdicts above mean, written from the results of 38 runs (five seeds of
#: Tables 6 and 7, three of the rest): the list above it is recomputed from the results,
#: this reading is not.
CONCLUSION = [
    "At this scale (8 ResBlocks, 2,000 iterations of batch 4 on 32² crops, a small",
    "fraction of the paper's training), every variant that matches 3×3 blocks lands above",
    "the ResNet on average, by about 0.05 to 0.23 dB, but the spread between seeds of the",
    "same paired difference (0.1 to 0.3 dB) is as large as the differences between",
    "variants: with three to five seeds none of the paper's orderings is established",
    "here, and none is contradicted beyond seed noise. Attention helping a denoiser points",
    "the same way as the paper. The finer orderings (the pyramid over one scale, more",
    "levels, where the block sits) are gaps of 0.01 to 0.15 dB in the paper, far below",
    "what a few seeds resolve at this spread. Two gains are smaller than the paper's, on",
    "both test sets. Pixel-wise non-local attention gains almost nothing over the ResNet",
    "(its seeds agree closely, and the interval excludes the paper's +0.28 dB): 3×3 block",
    "matching is what makes single-scale attention help at this scale. And the pyramid's",
    "gain over the ResNet, 0.15 dB on offline-mini and 0.08 dB on offline-structure over",
    "five seeds, has intervals that exclude the paper's +0.43 dB. Settling the rest takes",
    "the seeds in the last column, or the larger runs of",
    "`configs/studies/ablation-gpu.yaml` (16 ResBlocks, 48² crops, batch 16), where the",
    "networks train further and the gaps may widen; the paper's Urban100 images are also",
    "richer in repeated structure than ours.",
]


def render(rows: list[dict], study: dict[str, Any], study_path: str,
           results_path: str = "") -> str:
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
        "### On a GPU",
        "",
        "The same study at a larger scale (16 ResBlocks, 48² crops, batch 16, 2,000",
        "iterations: `configs/studies/ablation-gpu.yaml`) runs in one call on a machine with",
        "one GPU and no network. Pack the photos where they are (about 55 MB), then run the",
        "script there; by default it trains the four variants of Tables 6 and 7 with three",
        "seeds, twelve processes at once on the GPU, scores them on the CPU cores and writes",
        "`results-gpu.json`, `ablation-gpu.md` and the curves to `$OUT`:",
        "",
        "```bash",
        "python scripts/ablation_study.py configs/studies/ablation-gpu.yaml --pack .ablationpack",
        "bash scripts/ablation_gpu.sh            # on the GPU machine, with .ablationpack",
        "```",
        "",
        "It has not run on a GPU yet. Its size is an estimate from the shipped models'",
        "measured rates (about 25 iterations/s at batch 32 in float32 on an H200): twelve",
        "runs of 2,000 iterations at batch 16 come to about eight minutes; called again on",
        "the same machine, it resumes where a time limit cut it.",
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
                      "| variant | seeds | PSNR (dB) | per seed (1, 2, ...) | SSIM | "
                      "− resnet, paired (dB) | seeds above resnet | paper (Urban100) |",
                      "|---|---|---|---|---|---|---|---|"]
            for variant in variants:
                mine = [r for r in rows if r["variant"] == variant and r["test_set"] == test_set]
                psnr = [r["psnr"] for r in mine]
                ssim = [r["ssim"] for r in mine]
                paired = _paired(rows, variant, "resnet", test_set) if variant != "resnet" \
                    else []
                paper = PAPER.get(variant)
                per_seed = " / ".join(f"{r['psnr']:.2f}" for r in sorted(mine,
                                                                         key=lambda r: r["seed"]))
                lines.append(f"| {variant} | {len(mine)} | {_mean_sd(psnr)} | {per_seed or '-'} | "
                             f"{f'{statistics.mean(ssim):.4f}' if ssim else '-'} | "
                             f"{_mean_sd(paired) if paired else '-'} | "
                             f"{f'{sum(d > 0 for d in paired)} of {len(paired)}' if paired else '-'} | "
                             f"{f'{paper:.2f}' if paper else '-'} |")
            lines.append("")
    lines += ["Means ± standard deviations over seeds; a paired difference is taken seed by",
              "seed against the ResNet of the same seed. Every run, with its iterations and",
              "CPU hours: [ablation/results.json](ablation/results.json).", ""]
    lines += _cost_lines(rows, test_sets[0], list(study.get("variants") or []),
                         os.path.dirname(results_path) if results_path else "")
    lines += _curve_lines(os.path.dirname(results_path) if results_path else "")
    lines += _claim_lines(rows, test_sets)
    return "\n".join(lines)


def _cost_lines(rows: list[dict], test_set: str, order: list[str], folder: str) -> list[str]:
    speed_path = os.path.join(folder, "speed.json") if folder else ""
    speed = {}
    if speed_path and os.path.isfile(speed_path):
        with open(speed_path, encoding="utf-8") as handle:
            speed = json.load(handle)
    lines = ["## Cost and speed", "",
             "*Hours per run* and *s per iteration* are the study's own runs: one thread each,",
             "two runs sharing the two cores of the machine named above, plus whatever else it",
             "ran, so they are slower than an idle machine would be, alike for every variant."]
    if speed:
        lines += [f"*Training step* and *restore* come from `{speed['command']}` on",
                  f"{speed['machine']}: the median step on a batch of {speed['batch']} "
                  f"{speed['crop']}² crops, and the best restore of a",
                  f"{speed['restore_size']}² image in the study's scoring tiles, random "
                  "weights, float32."]
    else:
        lines += ["*Restore* is the time `panet eval` measured while scoring (one thread,",
                  "beside the other run)."]
    lines += ["", "| variant | runs | hours per run | s per iteration | training step (s) | "
              "restore (s per megapixel) |", "|---|---|---|---|---|---|"]
    present = {r["variant"] for r in rows}
    for variant in [v for v in order if v in present]:
        mine = [r for r in rows if r["variant"] == variant and r["test_set"] == test_set]
        hours = [r["cpu_hours"] for r in mine]
        per_iteration = [r["cpu_hours"] * 3600 / r["iterations"] for r in mine]
        measured = speed.get("variants", {}).get(variant, {})
        restore = [measured["restore_s_per_mp"]] if measured else \
            [r["restore_s_per_mp"] for r in mine if "restore_s_per_mp" in r]
        lines.append(f"| {variant} | {len(mine)} | {statistics.mean(hours):.2f} | "
                     f"{statistics.mean(per_iteration):.2f} | "
                     f"{measured['train_step_s']:.3f} | " if measured else
                     f"| {variant} | {len(mine)} | {statistics.mean(hours):.2f} | "
                     f"{statistics.mean(per_iteration):.2f} | - | ")
        lines[-1] += f"{statistics.median(restore):.0f} |" if restore else "- |"
    return lines + [""]


def _curve_lines(folder: str) -> list[str]:
    path = os.path.join(folder, "curves.json")
    if not folder or not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        curves = json.load(handle)
    marks = [400, 1000, 2000]
    lines = ["## Learning curves", "",
             "Training L1 loss on the noisy crops, averaged over 200-iteration windows and",
             "over seeds (`curves.json` beside the results):", "",
             "![Training loss of every variant](ablation/curves.png)", "",
             "| variant | " + " | ".join(f"iterations {m - 199}-{m}" for m in marks) + " |",
             "|---|" + "---|" * len(marks)]
    for variant, points in curves.items():
        at = {int(i): loss for i, loss in points}
        lines.append(f"| {variant} | " + " | ".join(
            f"{at[m]:.5f}" if m in at else "-" for m in marks) + " |")
    return lines + [""]


def _claim_lines(rows: list[dict], test_sets: list[str]) -> list[str]:
    lines = ["## The paper's orderings at this scale", "",
             "Each ordering as a paired difference, better − worse, seed by seed. *holds*: its",
             "95% interval (Student t over seeds) lies above zero; *within seed noise*: the",
             "interval contains zero. *paper's gap in our interval*: whether the paper's",
             "number is within that interval, i.e. whether our runs could be showing it.",
             "*seeds to settle*: how many seeds would bring the",
             "standard error of the difference to a quarter of the paper's gap (of ours where",
             "the paper has no number), at the seed-to-seed spread measured here.", ""]
    verdicts: dict[str, list[str]] = {}
    for test_set in test_sets:
        lines += [f"### On {test_set}", "",
                  "| the paper says | paper (dB) | ours, paired (dB) | seeds agreeing | "
                  "verdict | paper's gap in our interval | seeds to settle |",
                  "|---|---|---|---|---|---|---|"]
        for claim, better, worse, gap in CLAIMS:
            differences = _paired(rows, better, worse, test_set)
            if not differences:
                continue
            agree = sum(d > 0 for d in differences)
            said = verdict(differences)
            verdicts.setdefault(said, []).append(f"{claim} ({test_set})")
            lines.append(f"| {claim} | {f'+{gap:.2f}' if gap else '-'} | "
                         f"{_mean_sd(differences)} | {agree} of {len(differences)} | "
                         f"{said} | {paper_gap_fits(differences, gap)} | "
                         f"{seeds_to_settle(differences, gap)} |")
        lines.append("")
    lines += ["## Conclusion", ""]
    for said in ("holds", "same direction, within seed noise",
                 "opposite direction, within seed noise", "reversed", "one seed: undecided"):
        if verdicts.get(said):
            lines.append(f"- **{said[0].upper() + said[1:]}** ({len(verdicts[said])}): "
                         + "; ".join(verdicts[said]) + ".")
    lines += ["", *CONCLUSION, ""]
    return lines


def write_report(results_path: str, report_path: str, study: dict, study_path: str,
                 work: str = "") -> None:
    from panet.files import atomic_output

    rows = []
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as handle:
            rows = json.load(handle)
    if work:
        write_curves(work, os.path.dirname(results_path), list(study.get("variants") or []))
    text = render(rows, study, os.path.relpath(study_path), results_path)
    with atomic_output(report_path) as partial, open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
