"""``panet models``: list the registered models and the shipped weights."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> None:
    from panet.models import count_parameters, create_model, list_models, model_entry

    from panet.pretrained import available, load_pretrained

    def table(rows: list[tuple[str, str, str, str]]) -> None:
        header = ("name", "task", "parameters", "description")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(3)]
        for row in [header] + rows:
            print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
                  f"{row[3]}")

    table([(name, model_entry(name).task, f"{count_parameters(create_model(name)):,}",
            model_entry(name).description) for name in list_models()])
    shipped = available()
    if shipped:
        print("\nshipped weights (the default of their task; cards in docs/models.md):")
        table([(e.name, e.task + (f" x{e.scale}" if e.scale > 1 else ""),
                f"{count_parameters(load_pretrained(e)):,}", e.description) for e in shipped])


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""

    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(run=run)
