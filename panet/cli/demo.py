"""``panet demo``: degrade the bundled picture and restore it with shipped weights."""

from __future__ import annotations

import argparse
import os

from panet.cli.common import CommandError, check_output, threads
from panet.tasks import FAMILIES


def run(args: argparse.Namespace) -> None:
    from panet.demo import run_demo
    from panet.io import write_image

    if args.output:
        os.makedirs(args.output, exist_ok=True)
        targets = [os.path.join(args.output, f"demo-{args.task}-{kind}.png")
                   for kind in ("degraded", "restored")]
        for target in targets:
            check_output(args.image, target, args.overwrite)
    try:   # bad levels, images and tasks without shipped weights raise ValueError
        result = run_demo(args.task, args.level, args.image, args.seed)
    except (ValueError, OSError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    height, width = result.restored.shape[:2]
    print(f"image     {result.image} ({width}x{height})")
    print(f"model     {result.model} (shipped weights; card: docs/models.md)")
    print(f"time      {result.seconds:.2f} s on {threads()} CPU threads")
    print(f"PSNR      {result.degraded_label}: {result.degraded_psnr:.2f} dB, SSIM "
          f"{result.degraded_ssim:.4f}")
    print(f"PSNR      restored: {result.restored_psnr:.2f} dB, SSIM {result.restored_ssim:.4f} "
          f"({result.restored_psnr - result.degraded_psnr:+.2f} dB)")
    if args.output:
        write_image(targets[0], result.degraded)
        write_image(targets[1], result.restored)
        print(f"wrote     {targets[0]}, {targets[1]}")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    demo = commands.add_parser("demo", help="degrade the bundled picture, restore it with the "
                               "shipped weights, print PSNR/SSIM against the original")
    demo.add_argument("--task", default="denoise", choices=FAMILIES,
                      help="which shipped model to show (default: denoise)")
    demo.add_argument("--level", help="sigma (denoise, default 25), Bayer pattern (demosaic, "
                      "RGGB), JPEG quality (jpeg, 20) or scale (sr, 2)")
    demo.add_argument("--image", help="a clean image to use instead of the bundled picture")
    demo.add_argument("--seed", type=int, default=0, help="seed of the degradation")
    demo.add_argument("-o", "--output", help="folder for the degraded and restored images")
    demo.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    demo.set_defaults(run=run)
