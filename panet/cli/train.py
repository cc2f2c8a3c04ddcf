"""``panet train``: train a model from a preset or a YAML file."""

from __future__ import annotations

import argparse
import os

from panet.cli.common import CommandError


def run(args: argparse.Namespace) -> int:
    import yaml

    from panet.train.config import apply_overrides, build_config
    from panet.train.presets import PRESETS, preset

    if args.list:
        width = max(map(len, PRESETS))
        for name, (description, _) in PRESETS.items():
            print(f"{name:<{width}}  {description}")
        return 0
    if not args.config:
        raise CommandError("name a preset (see 'panet train --list') or a YAML file")
    if args.config in PRESETS:
        raw = preset(args.config)
    elif os.path.isfile(args.config):
        try:
            with open(args.config, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise CommandError(f"{args.config}: not valid YAML ({str(error).splitlines()[0]})")
    else:
        raise CommandError(f"{args.config!r} is neither a preset nor a file; presets: "
                           f"{', '.join(PRESETS)}")
    config = build_config(apply_overrides(raw, args.set or []))
    from panet.train.loop import Trainer

    out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.config))[0])
    if os.path.exists(out) and not os.path.isdir(out):
        raise CommandError(f"--out {out} is a file; the run needs a folder")
    if not args.resume and glob_checkpoints(out):
        raise CommandError(f"{out} already holds checkpoints; pass --resume to continue it "
                           "or choose another --out")
    trainer = Trainer(config, out, resume=args.resume, progress=not args.quiet)
    if trainer.rank == 0:
        from panet.files import atomic_output
        from panet.train.config import config_to_dict

        with atomic_output(os.path.join(out, "config.yaml"), suffix=".yaml") as partial:
            with open(partial, "w", encoding="utf-8") as handle:
                yaml.safe_dump(config_to_dict(config), handle, sort_keys=False)
    weights = trainer.run()
    if weights:
        print(f"weights: {weights}")
    return 0


def glob_checkpoints(out: str) -> list[str]:
    import glob

    return glob.glob(os.path.join(out, "checkpoints", "iter-*.pt"))


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    train = commands.add_parser("train", help="train a model (paper presets or a YAML file)")
    train.add_argument("config", nargs="?", help="preset name or YAML file")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override one value, e.g. --set train.iterations=1000")
    train.add_argument("--out", help="run folder (default: runs/CONFIG)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--list", action="store_true", help="list the presets")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run)
