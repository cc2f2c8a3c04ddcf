"""Validation PSNR against training iterations for every shipped model, all stages joined.

    python scripts/plot_learning_curves.py [--logs docs/history/training-logs] \
        [--out docs/images/learning-curves.png]

A model's stages are the folders ``docs/history/training-logs/STAGE-NAME`` (``gpu1-demosaic``,
``cpu1-demosaic``, ...) named in ``STAGES``, in training order: each stage warm-started from
the one before, so its iterations are counted on from the previous stage's end. The points
are the ``val_psnr`` records of ``metrics.jsonl`` (the held-out validation crops; never
offline-mini). A straight line in log10(iterations) is fitted through each model's points;
the table printed below the plot says how many iterations in all that line puts at "the
last validation PSNR plus the dB the model still lacks" on offline-mini (``GAPS`` of
train_on_device.py), which assumes that a gain on the validation crops is the same gain on
offline-mini. It is a rough reading of a short curve, not a promise. A stage trained with
``model.luma_from`` (colour JPEG as the pair that ships) validated another quantity than the
stages before it: it is labelled "(pair)", and the fit uses only points scored like the last.
A stage that trained (and so validated) on other noise levels or JPEG qualities than its
shipped configuration is labelled "(other levels)" and left out of the fit; its
``rescored.jsonl``, where present, holds its checkpoints scored on the configuration's own
levels (``scripts/score_val.py``, same crops), which are drawn and fitted instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_on_device import GAPS, read_log  # noqa: E402

#: model -> its training stages in order (folders under --logs; missing ones are skipped).
#: A folder ending in "-branch" is a run that started where the stages before it ended but
#: was not shipped: it is drawn, and the next stage does not count its iterations.
STAGES = {name: [f"gpu1-{name}", f"gpu2-{name}", f"gpu3-{name}", f"cpu0-{name}-branch",
                 f"cpu1-{name}", f"cpu2-{name}-branch", f"cpu2-{name}", f"gpu4-{name}",
                 f"gpu5-{name}", f"cpu3-{name}", f"cpu4-{name}", f"cpu5-{name}",
                 f"cpu6-{name}-branch", f"cpu6-{name}", f"cpu7-{name}-branch", f"cpu7-{name}",
                 f"cpu8-{name}", f"cpu9-{name}", f"cpu10-{name}", f"cpu11-{name}-branch",
                 f"cpu11-{name}", f"gpu6-{name}", f"gpu7-{name}", f"cpu12-{name}",
                 f"cpu13-{name}", f"cpu14-{name}", f"cpu15-{name}",
                 f"cpu16-{name}-branch", f"cpu16b-{name}-branch", f"cpu16-{name}",
                 f"cpu17-{name}-branch", f"cpu17-{name}", f"gpu8-{name}",
                 f"gpu9-{name}-branch", f"gpu9-{name}", f"cpu18-{name}-branch",
                 f"cpu18-{name}", f"cpu19-{name}-branch", f"cpu19-{name}",
                 f"cpu20-{name}-branch", f"cpu20-{name}", f"cpu21-{name}-branch",
                 f"cpu21-{name}", f"gpu10-{name}", f"gpu11-{name}",
                 f"cpu22-{name}-branch", f"cpu23-{name}-branch", f"cpu24-{name}"]
          for name in GAPS}
#: How a stage trained with ``model.luma_from`` is labelled: its validation PSNR is the
#: two-part model's (another quantity than the colour network's alone), so the fit uses
#: only the points scored as the last stage was.
PAIR = " (pair)"
#: How a stage validated on other levels than its shipped configuration's is labelled.
OTHER_LEVELS = " (other levels)"
#: The task keys that set the validation crops' degradation levels.
LEVEL_KEYS = ("sigma", "quality", "pattern", "scale")


def read_yaml(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def trained_as_pair(folder: str) -> bool:
    """Whether the stage in ``folder`` validated a two-part JPEG model (``model.luma_from``
    in its config.yaml)."""
    return bool((read_yaml(os.path.join(folder, "config.yaml")).get("model") or {})
                .get("luma_from"))


def validated_other_levels(folder: str, shipped_config: str) -> bool:
    """Whether the stage in ``folder`` validated other levels (``task.sigma``, ...) than
    ``shipped_config`` sets."""
    stage = read_yaml(os.path.join(folder, "config.yaml")).get("task") or {}
    shipped = read_yaml(shipped_config).get("task") or {}
    return bool(stage) and any(key in shipped and stage.get(key) != shipped[key]
                               for key in LEVEL_KEYS)


def curve(folders: list[str], shipped_config: str = "") -> list[tuple[int, float, str]]:
    """(cumulative iteration, val PSNR, stage) over all stages of one model (branches
    included, marked by their folder name)."""
    points, offset = [], 0
    for folder in folders:
        records = read_log(folder)
        if not records:
            continue
        length = max(r["iteration"] for r in records)
        label = os.path.basename(folder) + (PAIR if trained_as_pair(folder) else "")
        if shipped_config and validated_other_levels(folder, shipped_config):
            points += [(offset + r["iteration"], r["val_psnr"], label + OTHER_LEVELS)
                       for r in records if "val_psnr" in r]
            records = read_log(folder, "rescored.jsonl")
            label += " (rescored)"
        points += [(offset + r["iteration"], r["val_psnr"], label)
                   for r in records if "val_psnr" in r]
        if not folder.endswith("-branch"):
            offset += length
    return points


def fitted_points(drawn: list[tuple[int, float, str]]) -> list[tuple[int, float, str]]:
    """The points the fit uses: the shipped stages' (no branches), scored as the last one
    was (the two-part model's PSNR, or the network's alone), none validated on other
    levels than the configuration's."""
    points = [p for p in drawn if "-branch" not in p[2] and OTHER_LEVELS not in p[2]]
    if not points:
        return points
    pair = points[-1][2].endswith(PAIR)
    return [p for p in points if p[2].endswith(PAIR) == pair]


def fit(points: list[tuple[int, float, str]]) -> tuple[float, float] | None:
    """``(a, b)`` of PSNR = a + b log10(iterations), or None with fewer than two points."""
    xs = np.array([math.log10(i) for i, _, _ in points if i > 0])
    ys = np.array([p for i, p, _ in points if i > 0])
    if len(set(xs.round(6))) < 2:
        return None
    b, a = np.polyfit(xs, ys, 1)
    return float(a), float(b)


def write_figure(figure, path: str, rows: list[str]) -> None:
    """Save ``figure`` to ``path`` (making its folder) and print the markdown table ``rows``."""
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=80)
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default="docs/history/training-logs")
    parser.add_argument("--out", default="docs/images/learning-curves.png")
    parser.add_argument("--configs", default="configs/shipped",
                        help="the shipped configurations (their task levels)")
    parser.add_argument("--gap", action="append", default=[], metavar="NAME=DB",
                        help="dB a model still lacks on offline-mini (overrides GAPS)")
    args = parser.parse_args()
    gaps = dict(GAPS)
    for item in args.gap:
        name, value = item.split("=")
        gaps[name] = float(value)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 4, figsize=(18, 9))
    rows = ["| model | iterations so far | last validation PSNR | lacks on offline-mini | "
            "dB per 10× iterations (fit) | iterations the fit needs |", "|---|---|---|---|---|---|"]
    for axis, name in zip(axes.flat, sorted(STAGES)):
        drawn = curve([os.path.join(args.logs, s) for s in STAGES[name]],
                      os.path.join(args.configs, f"{name}.yaml"))
        points = fitted_points(drawn)
        for stage in dict.fromkeys(s for _, _, s in drawn):
            mine = [(i, p) for i, p, s in drawn if s == stage]
            axis.plot([max(i, 1) for i, _ in mine], [p for _, p in mine],
                      "x--" if "-branch" in stage else "+:" if OTHER_LEVELS in stage else "o-",
                      ms=3, label=stage)
        line = fit(points)
        done = points[-1][0] if points else 0
        needed = "—"
        if line and points and gaps[name] > 0:
            a, b = line
            if b > 0:
                goal = points[-1][1] + gaps[name]
                needed = f"{10 ** ((goal - a) / b):,.0f}"
                xs = np.logspace(math.log10(max(10, points[0][0] or 10)),
                                 math.log10(max(float(needed.replace(',', '')), done * 2)), 50)
                axis.plot(xs, a + b * np.log10(xs), ":", color="gray", label="log-linear fit")
                axis.axhline(goal, color="red", lw=0.8, ls="--", label="target (shifted)")
        elif gaps[name] <= 0:
            needed = "met"
        slope = f"{line[1]:.2f}" if line else "—"
        last = f"{points[-1][1]:.2f}" if points else "—"
        rows.append(f"| {name} | {done:,} | {last} | {max(gaps[name], 0):.2f} dB | {slope} | "
                    f"{needed} |")
        axis.set_xscale("log")
        axis.set_title(name)
        axis.set_xlabel("iterations (all stages)")
        axis.set_ylabel("validation PSNR (dB)")
        axis.grid(alpha=0.3)
        # many stages: two columns, see-through, so the legend hides less of the curves
        handles = axis.get_legend_handles_labels()[0]
        axis.legend(fontsize=6, ncol=2 if len(handles) > 10 else 1, framealpha=0.5)
    figure.suptitle("Shipped models: PSNR on the held-out validation crops while training")
    write_figure(figure, args.out, rows)


if __name__ == "__main__":
    main()
