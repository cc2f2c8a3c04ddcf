"""Tables of an :class:`~panet.evaluate.runner.Evaluation`: Markdown (laid out like the
paper's tables: methods as rows, dataset x level as columns, PSNR / SSIM), CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict

from panet.evaluate.runner import TASKS, Evaluation

__all__ = ["markdown_table", "csv_table", "json_report"]


def _columns(result: Evaluation) -> list[tuple[str, str]]:
    return [(d, level) for d in result.datasets for level in result.levels]


def _fmt_psnr(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def markdown_table(result: Evaluation, caption: str | None = None) -> str:
    """PSNR (dB) / SSIM per method and column; the best PSNR of each column in bold; the
    last column is the method's run time per megapixel of output."""
    columns = _columns(result)
    best = {}
    for column in columns:
        values = [result.mean(m, *column) for m in result.methods]
        values = [v[0] for v in values if v is not None]
        best[column] = max(values) if values else None
    header = ["Method"] + [f"{d} {level}" for d, level in columns] + ["s / MP"]
    lines = [f"**{caption or TASKS[result.task].title}** (PSNR dB / SSIM)", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in result.methods:
        cells = [method]
        for column in columns:
            value = result.mean(method, *column)
            if value is None:
                cells.append("—")
                continue
            text = f"{_fmt_psnr(value[0])} / {value[1]:.4f}"
            cells.append(f"**{text}**" if value[0] == best[column] and
                         len(result.methods) > 1 else text)
        rate = result.seconds_per_megapixel(method)
        cells.append("—" if rate is None else f"{rate:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(result: Evaluation) -> str:
    """One row per method, dataset and level: mean PSNR, SSIM, seconds per megapixel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["task", "method", "dataset", "level", "images", "psnr", "ssim",
                     "seconds_per_megapixel"])
    for method in result.methods:
        for dataset, level in _columns(result):
            rows = [s for s in result.scores if (s.method, s.dataset, s.level) ==
                    (method, dataset, level)]
            if not rows:
                continue
            mean = result.mean(method, dataset, level)
            rate = sum(r.seconds for r in rows) / sum(r.megapixels for r in rows)
            writer.writerow([result.task, method, dataset, level, len(rows),
                             f"{mean[0]:.4f}", f"{mean[1]:.6f}", f"{rate:.4g}"])
    return out.getvalue()


def json_report(result: Evaluation, metadata: dict | None = None) -> str:
    """Everything: run metadata, means per cell and every per-image score."""
    means = []
    for method in result.methods:
        for dataset, level in _columns(result):
            value = result.mean(method, dataset, level)
            if value is not None:
                means.append({"method": method, "dataset": dataset, "level": level,
                              "psnr": value[0], "ssim": value[1]})
    payload = {"task": result.task, "methods": result.methods, "datasets": result.datasets,
               "levels": result.levels, "metadata": metadata or {}, "means": means,
               "seconds_per_megapixel": {m: result.seconds_per_megapixel(m)
                                         for m in result.methods},
               "scores": [asdict(s) for s in result.scores]}
    return json.dumps(payload, indent=1, allow_nan=True) + "\n"
