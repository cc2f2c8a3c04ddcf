"""``panet export``: a network as an ONNX file that runs with onnxruntime, anywhere."""

from __future__ import annotations

import argparse
import os
import sys

from panet.cli.common import CommandError, check_output, resolve_model


def run(args: argparse.Namespace) -> int:
    from panet.models.card import model_card

    if not args.output.endswith(".onnx"):
        raise CommandError(f"{args.output}: the output is an ONNX file; name it *.onnx")
    check_output(args.model if os.path.isfile(args.model) else None, args.output,
                 args.overwrite)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CommandError(f"{args.output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CommandError(f"{args.output}: the folder {folder} is not writable")
    if args.model.endswith(".onnx"):
        raise CommandError(f"{args.model} is already an ONNX file")
    model, random_weights = resolve_model(args.model, "denoise", None)
    if random_weights:
        print(f"panet: warning: {args.model} has RANDOM weights (a registry name, not trained "
              "weights); the file will not restore anything", file=sys.stderr)
    try:
        from panet.export import export_onnx
    except ImportError as error:
        raise CommandError(str(error)) from None
    command = "panet export " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    try:
        export_onnx(model, args.output, command=command)
    except ImportError as error:
        raise CommandError(str(error)) from None
    card = model_card(model)
    print(f"wrote {args.output}: {card.architecture}, {card.in_channels} channel(s) in, "
          f"x{card.scale}, task {card.family or 'unknown'}; any image size "
          f"({os.path.getsize(args.output) / 2**20:.1f} MiB)")
    return 0


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    export = commands.add_parser("export", help="write a model as ONNX (any image size)")
    export.add_argument("model", help="shipped name (denoise-color, sr-x4, ...), registry "
                        "name, or weights file (.safetensors, panet .pt, authors' .pt)")
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output")
    export.set_defaults(run=run)
