"""benchmarks/gpu.py, the two-minute accelerator benchmark, in its CPU smoke mode: every
row of its table is measured (no crash waits for the next lent GPU)."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import gpu  # noqa: E402


def test_the_cpu_smoke_run_measures_every_row(capsys):
    assert gpu.main(["--device", "cpu", "--quick", "--budget", "900"]) == 0
    out = capsys.readouterr().out
    for size in (16, 24):
        for label in ("panet, fused (sdpa)", "panet, block kernel"):
            assert re.search(rf"\| {size}² \| {re.escape(label)} \| [0-9.]+ ms \|", out), out
    for net in ("shipped (PANet-S, light attention)", "paper's PANet"):
        for precision in ("fp32", "tf32", "bf16"):
            assert re.search(rf"\| {re.escape(net)} \| 2 \| {precision} \| [0-9.]+ \|", out), out
    assert "skipped" not in out and "out of memory" not in out


def test_the_attention_flops_follow_the_spec_count():
    # 48 x 48 features: 7,470 keys (five levels); 2 * N * L * 9 * (C/r + C) products
    assert gpu.attention_flops(48) == 2.0 * 48 * 48 * 7470 * 9 * (32 + 64)


def test_peaks_are_only_claimed_for_known_cards():
    assert gpu.card_peak("cpu", "bf16") is None
