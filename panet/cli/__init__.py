"""The ``panet`` command line: one module per command (its parser and its handler).

Adding a command is one module with ``register(commands)`` and an entry in ``COMMANDS``;
the work itself belongs in library functions the module calls.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from panet.cli import (attention_map, convert, data, degrade, demo, env, evaluate, export,
                       metrics, models, restore, serve, smoke, train)
from panet.cli.common import CommandError

__all__ = ["main", "build_parser", "CommandError", "COMMANDS"]

#: The command modules, in the order ``panet --help`` lists them.
COMMANDS = (models, convert, export, smoke, demo, degrade, metrics, data, train, restore,
            serve, evaluate, attention_map, env)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported in one line (not the whole usage text)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``panet`` command (its subcommands inherit the class)."""
    parser = OneLineParser(prog="panet", description="Pyramid Attention Networks "
                           "for image restoration.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from panet.checkpoints import CheckpointError
    from panet.io import ImageError
    from panet.train.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        status = args.run(args)
    except (CommandError, CheckpointError, ImageError, ConfigError, ValueError) as error:
        print(f"panet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status or 0
