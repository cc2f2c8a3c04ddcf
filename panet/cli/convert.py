"""``panet convert``: convert an authors' checkpoint to panet safetensors."""

from __future__ import annotations

import argparse
import os

from panet.cli.common import CommandError, check_output


def run(args: argparse.Namespace) -> None:
    from panet.checkpoints import load_official_checkpoint, save_model
    from panet.models import count_parameters

    check_output(args.checkpoint, args.output, args.overwrite)
    if not args.output.endswith(".safetensors"):
        raise CommandError(f"{args.output}: the output is safetensors weights; name it "
                           "*.safetensors")
    model = load_official_checkpoint(args.checkpoint)
    save_model(model, args.output, {"converted_from": os.path.basename(args.checkpoint)})
    print(f"{args.output}: {model.architecture} {model.config} "
          f"({count_parameters(model):,} parameters)")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    convert = commands.add_parser("convert", help="convert an authors' .pt checkpoint to "
                                  "panet safetensors weights")
    convert.add_argument("checkpoint", help="the authors' checkpoint (torch.save state dict)")
    convert.add_argument("output", help="the .safetensors file to write")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output")
    convert.set_defaults(run=run)
