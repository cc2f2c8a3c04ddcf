"""The command-line reference as Markdown, generated from the argparse parsers themselves.

The documentation site builds its CLI page from :func:`cli_reference` (``docs/hooks``), so
the page lists exactly the commands and options ``panet --help`` knows and cannot drift.

>>> text = cli_reference()
>>> "## `panet restore`" in text and "| `--task {denoise," in text
True
"""

from __future__ import annotations

import argparse
import re

__all__ = ["cli_reference", "command_names"]


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append((name, sub, helps.get(name, "")))
    return found


def command_names(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Every command and nested subcommand, e.g. ``["models", ..., "data fetch", ...]``."""
    if parser is None:
        from panet.cli import build_parser
        parser = build_parser()
    names: list[str] = []
    for name, sub, _ in _subcommands(parser):
        names.append(name)
        names.extend(f"{name} {inner}" for inner in command_names(sub))
    return names


def _cell(text: str) -> str:
    """Help text made safe for one Markdown table cell."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = "" if action.nargs == 0 else " " + formatter._format_args(
                action, action.dest.upper())
            name = ", ".join(f"`{flag}{metavar}`" for flag in action.option_strings)
        else:
            name = f"`{formatter._metavar_formatter(action, action.dest)(1)[0]}`"
        help_text = formatter._expand_help(action) if action.help else ""
        if action.required and action.option_strings:
            help_text = "required. " + help_text
        rows.append(f"| {name} | {_cell(help_text)} |")
    return rows


def _section(path: str, parser: argparse.ArgumentParser, summary: str,
             level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    text = parser.description or summary
    if text:
        lines += [re.sub(r"\s+", " ", text).strip(), ""]
    usage = parser.format_usage().strip()
    usage = re.sub(r"^usage:\s*", "", usage)
    lines += ["```text", re.sub(r"\s+", " ", usage), "```", ""]
    rows = _option_rows(parser)
    if rows:
        lines += ["| argument | what it does |", "|---|---|", *rows, ""]
    for name, sub, help_text in _subcommands(parser):
        lines += _section(f"{path} {name}", sub, help_text, min(level + 1, 4))
    if parser.epilog:
        lines += [re.sub(r"\s+", " ", parser.epilog).strip(), ""]
    return lines


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown for every ``panet`` command: its description, usage and options."""
    if parser is None:
        from panet.cli import build_parser
        parser = build_parser()
    lines = ["| command | what it does |", "|---|---|"]
    for name, sub, summary in _subcommands(parser):
        lines.append(f"| [`panet {name}`](#panet-{name}) | {_cell(summary)} |")
    lines.append("")
    for name, sub, summary in _subcommands(parser):
        lines += _section(f"panet {name}", sub, summary, 2)
    return "\n".join(lines)
