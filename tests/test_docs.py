"""The documentation keeps its promises: its examples run, its cards are short and current,
its CLI reference names every command, and its user pages speak to users.

Python examples: every ```python block of the README and of docs/ (outside docs/history and
the generated eval reports) runs in a fresh namespace, in a folder holding ``photo.png``
(the bundled picture). Getting started: the ``panet`` commands of its bash blocks run, in
order, on the same picture (``panet serve``, a server, is the browser test's business).
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
DOCS = os.path.join(ROOT, "docs")
SAMPLE = os.path.join(ROOT, "panet", "assets", "sample.png")
SHIPPED = ["denoise-color", "denoise-gray", "demosaic", "jpeg-y", "jpeg-color",
           "sr-x2", "sr-x3", "sr-x4"]


def user_pages() -> list[str]:
    """The README and every docs page a user reads (not the history, not eval reports)."""
    pages = [os.path.join(ROOT, "README.md")]
    for folder, dirs, files in os.walk(DOCS):
        relative = os.path.relpath(folder, DOCS)
        if relative.split(os.sep)[0] in ("history", "eval", "hooks"):
            continue
        pages += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
    return pages


def fenced(path: str, language: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return re.findall(rf"(?ms)^```{language}[^\n]*\n(.*?)^```", text)


EXAMPLES = [(os.path.relpath(page, ROOT), number, code)
            for page in user_pages() for number, code in enumerate(fenced(page, "python"))]


def test_the_docs_have_python_examples():
    # the collection below must not go silently empty (a renamed folder, a changed fence)
    assert len(EXAMPLES) >= 5, [e[:2] for e in EXAMPLES]


@pytest.mark.parametrize("page, number, code", EXAMPLES,
                         ids=[f"{p}#{n}" for p, n, _ in EXAMPLES])
def test_python_example_runs(page, number, code, tmp_path, monkeypatch):
    if "onnxruntime" in code and importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("the onnx extra is not installed")
    shutil.copy(SAMPLE, tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")


def getting_started_commands() -> list[str]:
    commands = []
    for block in fenced(os.path.join(DOCS, "getting-started.md"), "bash"):
        for line in block.splitlines():
            for part in line.split("#")[0].split("&&"):
                part = part.strip().removeprefix(".venv/bin/")
                if part.startswith("panet ") and not part.startswith("panet serve"):
                    commands.append(part)
    return commands


def test_getting_started_commands_run(tmp_path):
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("the onnx extra is not installed (the page exports a model)")
    commands = getting_started_commands()
    assert any(c.startswith("panet restore") for c in commands)
    assert any(c.startswith("panet export") for c in commands)
    shutil.copy(SAMPLE, tmp_path / "photo.png")
    panet = os.path.join(os.path.dirname(sys.executable), "panet")
    for command in commands:
        words = shlex.split(command)
        done = subprocess.run([panet, *words[1:], *(["--quiet"] if words[1] == "restore" else [])],
                              cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr.strip()[-500:]}"
    from panet.io import read_image
    photo = read_image(tmp_path / "photo.png")
    # what the page says each step writes
    for name, size in (("noisy_panet.png", 1), ("photo-q20_panet.jpg", 1),
                       ("photo-x2.png", 2), ("noisy_onnx.png", 1)):
        image = read_image(tmp_path / name)
        assert image.shape[:2] == (photo.shape[0] * size, photo.shape[1] * size), name
    restored = read_image(tmp_path / "noisy_panet.png")
    noisy = read_image(tmp_path / "noisy.png")
    mse = lambda a: float(np.mean((a.astype(np.float64) - photo.astype(np.float64)) ** 2))
    assert mse(restored) < mse(noisy) / 3          # the page promises about +8 dB


# ---- model cards ---------------------------------------------------------------------------

def _cards() -> dict[str, str]:
    with open(os.path.join(DOCS, "models.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = text.split("<!-- shipped cards: start -->")[1].split("<!-- shipped cards: end -->")[0]
    cards = [c.strip() for c in re.split(r"(?m)^(?=#+ )", block) if c.strip()]
    named = {}
    for card in cards:
        heading = card.splitlines()[0]
        match = re.fullmatch(r"#+ .*`([a-z0-9-]+)`", heading)
        assert match, f"a card heading must end with the model's name in backticks: {heading}"
        named[match.group(1)] = card
    return named


def test_every_shipped_model_has_a_short_card():
    cards = _cards()
    assert sorted(cards) == sorted(SHIPPED)
    for name, card in cards.items():
        assert len(card.splitlines()) <= 40, (name, len(card.splitlines()))
        assert len(card) <= 2500, (name, len(card))
        for part in ("| trained on | iterations | hours |", "**total**", "PSNR dB / SSIM",
                     "**Weaknesses**", "panet eval --task"):
            assert part in card, (name, part)


def test_cards_are_generated_from_the_weights_and_reports():
    spec = importlib.util.spec_from_file_location(
        "model_cards", os.path.join(ROOT, "scripts", "model_cards.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cwd = os.getcwd()
    os.chdir(ROOT)     # the eval reports are read from docs/eval
    try:
        cards, records = module.render()
    finally:
        os.chdir(cwd)
    with open(os.path.join(DOCS, "models.md"), encoding="utf-8") as handle:
        assert cards in handle.read(), "docs/models.md is stale: python scripts/model_cards.py"
    with open(os.path.join(DOCS, "history", "models.md"), encoding="utf-8") as handle:
        assert records in handle.read(), "docs/history/models.md is stale"


# ---- the CLI reference ---------------------------------------------------------------------

def _help_commands(*words: str) -> list[str]:
    """The subcommands ``panet WORDS --help`` lists (argparse's {a,b,c} choices line)."""
    panet = os.path.join(os.path.dirname(sys.executable), "panet")
    text = subprocess.run([panet, *words, "--help"], capture_output=True, text=True).stdout
    listed = re.findall(r"^    ([a-z][a-z-]*)\s", text, re.M)
    choices = re.search(r"\{([a-z,-]+)\} \.\.\.", text)     # usage: panet data {fetch,list} ...
    return listed or (choices.group(1).split(",") if choices else [])


def test_cli_reference_names_every_command_and_option():
    from panet.cli import build_parser
    from panet.cli.reference import cli_reference

    text = cli_reference()
    commands = _help_commands()
    assert len(commands) >= 14 and "restore" in commands and "attention-map" in commands
    for command in commands:
        assert f"`panet {command}`" in text, command
        for sub in _help_commands(command):
            assert f"`panet {command} {sub}`" in text, (command, sub)
    # every option of every command, with its help
    parser = build_parser()
    sub_action = next(a for a in parser._actions if a.choices and "restore" in a.choices)
    for name, sub in sub_action.choices.items():
        section = text.split(f"`panet {name}`\n", 1)[1]
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in section, (name, flag)


# ---- user pages speak to users -------------------------------------------------------------

DEVELOPMENT_TALK = [r"lease", r"\blent\b", r"\bissues? #?\d+", r"\bSPEC\b", r"DEVELOPERS"]


@pytest.mark.parametrize("page", [os.path.relpath(p, ROOT) for p in user_pages()])
def test_user_pages_do_not_speak_of_development(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    found = [f"{page}:{i}: {line.strip()[:100]}" for i, line in enumerate(lines, 1)
             for pattern in DEVELOPMENT_TALK
             if re.search(pattern, line, 0 if pattern == r"\bSPEC\b" else re.I)]
    assert not found, "\n".join(found)
