"""``panet eval``: paper-style tables and figures."""

from __future__ import annotations

import argparse
import os
import sys

from panet.cli.common import CommandError, file_slug, precision_dtype
from panet.tasks import TASKS


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from panet import __version__
    from panet.evaluate import (comparison_figure, csv_table, evaluate, json_report,
                                markdown_table, parse_levels)
    from panet.evaluate.setup import baselines_for, datasets_from_text, networks_from_text
    from panet.files import atomic_output
    from panet.hardware import describe_machine
    from panet.io import write_image
    from panet.workers import Workers

    levels = parse_levels(args.task, args.levels)
    if args.tile is not None and args.tile < 16:
        raise CommandError(f"--tile must be at least 16 pixels, got {args.tile}")
    if args.overlap is not None and not 0 <= args.overlap < (args.tile or 2**31):
        raise CommandError(f"--overlap must be from 0 to the tile size - 1, got {args.overlap}")
    if args.crop is not None and args.crop < 8:
        raise CommandError(f"--crop must be at least 8 pixels, got {args.crop}")
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be at least 1, got {args.limit}")
    datasets = datasets_from_text(args.dataset)
    baselines, notes = baselines_for(args.task, args.baselines)
    networks, warnings = networks_from_text(
        args.task, levels, args.models, protocol=args.protocol, tile=args.tile,
        overlap=args.overlap, ensemble=args.ensemble, consistency=not args.no_consistency,
        dtype=precision_dtype(args.precision, getattr(args, "device", "cpu")))
    for line in notes:
        print(f"panet: note: {line}", file=sys.stderr)
    for line in warnings:
        print(f"panet: warning: {line}", file=sys.stderr)
    methods = baselines + networks
    if not methods:
        raise CommandError("nothing to evaluate: no models and no baselines")
    out = args.out or os.path.join("eval", args.task)
    os.makedirs(out, exist_ok=True)

    def show(score) -> None:
        if not args.quiet:
            print(f"{score.dataset} {score.level} {score.image}: {score.method} "
                  f"{score.psnr:.2f} dB / {score.ssim:.4f} ({score.seconds:.1f} s)", flush=True)

    def save(score, restored) -> None:
        folder = os.path.join(out, "images", score.method.replace("/", "_").replace(" ", "_"),
                              file_slug(f"{score.dataset}-{score.level}"))
        os.makedirs(folder, exist_ok=True)
        write_image(os.path.join(folder, os.path.splitext(score.image)[0] + ".png"), restored)

    workers = Workers.from_environment()   # under torchrun: a share of the images each
    result = evaluate(args.task, levels, datasets, methods, crop=args.crop, limit=args.limit,
                      seed=args.seed, figure_image=args.figure_image, on_result=show,
                      save=save if args.save_images else None, workers=workers)
    workers.close()
    if result is None:   # another process writes the report
        return 0
    metadata = {"command": "panet " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("panet")
                else None, "panet": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "machine": describe_machine(),
                "protocol": args.protocol, "crop": args.crop, "limit": args.limit,
                "seed": args.seed, "ensemble": args.ensemble, "precision": args.precision,
                "consistency": not args.no_consistency and args.protocol != "paper",
                "processes": workers.world}
    files = {"results.md": markdown_table(result), "results.csv": csv_table(result),
             "results.json": json_report(result, metadata)}
    for name, text in files.items():
        with atomic_output(os.path.join(out, name)) as temporary:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
    figures = []
    for dataset, level in result.figure_images:
        path = os.path.join(out, f"figure-{args.task}-{dataset}-{file_slug(level)}.png")
        if comparison_figure(result, dataset, level, path):   # False: matplotlib missing
            figures.append(path)
    print()
    print(files["results.md"])
    print(f"wrote {', '.join(os.path.join(out, n) for n in files)} and "
          f"{len(figures)} figure(s) in {out}")
    return 0


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    evaluation = commands.add_parser("eval", help="paper-style tables and figures: networks "
                                     "beside classical methods on degraded test images")
    evaluation.add_argument("--task", required=True,
                            choices=list(TASKS),
                            help="jpeg is the paper's CAR on Y; jpeg-color works on RGB; "
                                 "denoise-gray on the luma of the test images")
    evaluation.add_argument("--levels", required=True, help="comma list: sigmas (denoise), "
                            "Bayer patterns (demosaic), qualities (jpeg), scales (sr)")
    evaluation.add_argument("--dataset", default="offline-mini", help="comma list of prepared "
                            "set names (offline-mini) or image folders")
    evaluation.add_argument("--models", help="comma list of [LABEL=]NAME|FILE[@LEVEL] "
                            "(@LEVEL: a non-blind model scored at that level only); 'none'")
    evaluation.add_argument("--baselines", help="comma list of input, cbm3d, bm3d-deblock, "
                            "menon, malvar, bilinear, bicubic; 'none' (default: the task's)")
    evaluation.add_argument("--protocol", choices=["paper", "default"], default="paper",
                            help="paper: the authors' chop (default); default: --tile tiles")
    evaluation.add_argument("--tile", type=int, help="tile size with --protocol default "
                            "(default: whole image)")
    evaluation.add_argument("--overlap", type=int, help="tile overlap with --tile (default: "
                            "the model's own, as panet restore)")
    evaluation.add_argument("--ensemble", action="store_true", help="self-ensemble (x8)")
    evaluation.add_argument("--no-consistency", action="store_true",
                            dest="no_consistency",
                            help="leave the networks' output as it is (default: JPEG outputs "
                                 "kept within the input's quantisation intervals, SR outputs "
                                 "shrinking back to the input, demosaiced ones keeping the "
                                 "mosaic's samples; never with --protocol paper)")
    evaluation.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"],
                            default="fp32", help="fp32 (default) for comparable tables")
    evaluation.add_argument("--crop", type=int, help="centre crops of this input size "
                            "instead of whole images (faster)")
    evaluation.add_argument("--limit", type=int, help="first N images of each dataset only")
    evaluation.add_argument("--seed", type=int, default=0, help="degradation seed")
    evaluation.add_argument("--figure-image", help="part of the file name of the image shown "
                            "in the figures (default: the first)")
    evaluation.add_argument("--save-images", action="store_true",
                            help="also write every output under OUT/images")
    evaluation.add_argument("--out", help="output folder (default: eval/TASK)")
    evaluation.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluation.set_defaults(run=run)
