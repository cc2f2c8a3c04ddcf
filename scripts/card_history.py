"""Offline-mini score against training iterations, read from the repository's history.

    python scripts/card_history.py [--models demosaic,denoise-gray] [--out docs/images/card-history.png]

Every commit that changed a shipped model's ``panet eval`` report (``docs/eval/shipped/...``)
is one point: the model's offline-mini PSNR at each level in that report, against the
training iterations in the card of the weights committed beside it. Points are comparable
only when the same command restored with the same tiling (the weights may name their own
``restore_tile``/``restore_overlap`` since 2026-12-04), so each point carries that setting,
and a report that re-scored unchanged weights replaces the point before it.

The validation crops' learning curves (``plot_learning_curves.py``) overstated offline-mini
gains 2-10 times (docs/models.md), so this script fits the quantity the targets are set
on: PSNR = a + b log10(iterations) through the last ``--recent`` points of the longest run
of comparable points (the curves bend: early stages climbed faster per 10x than late ones,
so a fit through all of them promises too much), and says how many iterations in all that
slope puts at the level's gap (``GAPS`` of train_on_device.py). Points from before a restart (fewer iterations than the point before)
belong to another network and are dropped. A rough reading of a handful of points, mixing
recipes (bfloat16 and float32 leases, CPU stages, σ lists), not a promise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_cards import REPORTS  # noqa: E402
from plot_learning_curves import write_figure  # noqa: E402
from train_on_device import GAPS  # noqa: E402

#: the level of each model's report that its GAPS entry is about (the others are shown)
GAP_LEVEL = {"denoise-color": "σ30", "denoise-gray": "σ30", "demosaic": "RGGB"}


def git(*args: str, repo: str = ".") -> bytes:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True).stdout


def weights_card(commit: str, path: str, repo: str = ".") -> dict | None:
    """The ``__metadata__`` of the safetensors file at ``path`` in ``commit`` (None if absent),
    read from its header alone."""
    try:
        blob = git("show", f"{commit}:{path}", repo=repo)
    except subprocess.CalledProcessError:
        return None
    (length,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + length]).get("__metadata__", {})


def tiling_of(command: str, metadata: dict) -> str:
    """The restore setting a report was made with: its command without the output folder,
    plus the overlap the weights named (which ``panet eval`` follows unless told)."""
    words = [w for w in command.split() if not w.startswith("docs/")]
    own = metadata.get("restore_overlap")
    return " ".join(words) + (f" [own overlap {own}]" if own and "--overlap" not in words
                              else "")


def short_tiling(tiling: str) -> str:
    """``tile/overlap`` of a :func:`tiling_of` text, for a legend.

    >>> short_tiling("panet eval --tile 40 --quiet [own overlap 12]")
    '40/12'
    """
    words = tiling.replace("[own overlap", "--overlap").rstrip("]").split()
    value = {key: words[i + 1] for i, key in enumerate(words[:-1]) if key in ("--tile",
                                                                              "--overlap")}
    return f"{value.get('--tile', '?')}/{value.get('--overlap', '?')}"


def history(name: str, repo: str = ".") -> list[dict]:
    """One record per report commit of ``name``: iterations, tiling, {level: PSNR}."""
    report = os.path.join(REPORTS[name][0], "results.json")
    weights = f"panet/weights/{name}.safetensors"
    commits = git("log", "--reverse", "--format=%h", "--", report, repo=repo).decode().split()
    points: list[dict] = []
    for commit in commits:
        data = json.loads(git("show", f"{commit}:{report}", repo=repo))
        metadata = weights_card(commit, weights, repo) or {}
        card = json.loads(metadata.get("card", "{}"))
        iterations = card.get("iterations") or sum(
            s.get("iterations", 0) for s in card.get("stages", []))
        # the model is the report's last method (panet eval lists baselines first)
        mine = [m for m in data["means"] if m["method"] == data["methods"][-1]]
        if not iterations or not mine:
            continue
        point = {"commit": commit, "iterations": int(iterations),
                 "tiling": tiling_of(data["metadata"].get("command", ""), metadata),
                 "psnr": {m["level"]: m["psnr"] for m in mine if m["dataset"] == "offline-mini"}}
        if points and point["iterations"] < points[-1]["iterations"]:
            points = []   # a restart: the earlier points were another network
        if points and (points[-1]["iterations"], points[-1]["tiling"]) == \
                (point["iterations"], point["tiling"]):
            points[-1] = point   # the same weights re-scored: keep the later report
        else:
            points.append(point)
    return points


def longest_series(points: list[dict]) -> list[dict]:
    """The points of the restore setting that has the most of them (the latest on a tie)."""
    if not points:
        return []
    counts: dict[str, int] = {}
    for p in points:
        counts[p["tiling"]] = counts.get(p["tiling"], 0) + 1
    best = max(reversed([p["tiling"] for p in points]), key=counts.get)
    return [p for p in points if p["tiling"] == best]


def slope(points: list[dict], level: str) -> float | None:
    """``b`` of PSNR = a + b log10(iterations) through ``points`` at ``level``."""
    pairs = [(math.log10(p["iterations"]), p["psnr"][level]) for p in points
             if level in p["psnr"]]
    if len({round(x, 6) for x, _ in pairs}) < 3:
        return None
    return float(np.polyfit([x for x, _ in pairs], [y for _, y in pairs], 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(GAP_LEVEL))
    parser.add_argument("--out", default="docs/images/card-history.png")
    parser.add_argument("--recent", type=int, default=4,
                        help="fit the slope through this many latest comparable points")
    args = parser.parse_args()
    names = args.models.split(",")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    rows = ["| model, level | report commits used | iterations now | offline-mini now | lacks "
            "| dB per 10× iterations (recent fit) | iterations in all the fit needs |",
            "|---|---|---|---|---|---|---|"]
    for axis, name in zip(axes.flat, names):
        points = history(name)
        series = longest_series(points)
        level = GAP_LEVEL.get(name) or next(iter(points[-1]["psnr"]))
        for tiling in dict.fromkeys(p["tiling"] for p in points):
            mine = [p for p in points if p["tiling"] == tiling and level in p["psnr"]]
            label = short_tiling(tiling)
            axis.plot([p["iterations"] for p in mine], [p["psnr"][level] for p in mine],
                      "o-" if mine and mine[0] in series else "s", ms=4,
                      label=f"restored {label} ({len(mine)} reports)")
        b = slope(series[-args.recent:], level)
        now = points[-1]
        gap = max(GAPS.get(name, 0.0), 0.0)
        needed = "met" if gap == 0 else "—"
        if b and b > 0 and gap > 0:
            total = now["iterations"] * 10 ** (gap / b)
            needed = f"{total:,.0f} ({total / now['iterations']:.1f}×)"
            axis.axhline(now["psnr"][level] + gap, color="red", lw=0.8, ls="--",
                         label="target")
        rows.append(f"| {name} {level} | {len(series)} of {len(points)} | "
                    f"{now['iterations']:,} | {now['psnr'][level]:.3f} | {gap:.2f} dB | "
                    f"{'—' if b is None else f'{b:.2f}'} | {needed} |")
        axis.set_xscale("log")
        axis.set_title(f"{name}, offline-mini {level}")
        axis.set_xlabel("training iterations (all shipped stages)")
        axis.set_ylabel("PSNR (dB)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    write_figure(figure, args.out, rows)


if __name__ == "__main__":
    main()
