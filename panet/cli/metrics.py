"""``panet metrics``: PSNR and SSIM of a restored image against its reference."""

from __future__ import annotations

import argparse

from panet.cli.common import CommandError


def run(args: argparse.Namespace) -> None:
    import json

    from panet.io import read_image
    from panet.metrics import psnr, ssim

    restored, reference = read_image(args.restored), read_image(args.reference)
    if restored.shape != reference.shape:
        raise CommandError(f"sizes differ: {args.restored} is {restored.shape[1]}x"
                           f"{restored.shape[0]}x{restored.shape[2]}, {args.reference} is "
                           f"{reference.shape[1]}x{reference.shape[0]}x{reference.shape[2]}")
    result = {"psnr": psnr(restored, reference, y=args.y, shave=args.shave)}
    try:
        result["ssim"] = ssim(restored, reference, y=args.y, shave=args.shave)
    except ValueError:
        result["ssim"] = None  # image smaller than the 11x11 window
    result.update(y=args.y, shave=args.shave)
    if args.json:
        print(json.dumps(result))
    else:
        ssim_text = "n/a (smaller than 11x11)" if result["ssim"] is None else f"{result['ssim']:.4f}"
        print(f"PSNR {result['psnr']:.2f} dB  SSIM {ssim_text}  "
              f"({'Y' if args.y else 'all channels'}, shave {args.shave})")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    metrics = commands.add_parser("metrics", help="PSNR and SSIM of a restored image "
                                  "against its reference (the paper's protocol)")
    metrics.add_argument("restored", help="the restored image")
    metrics.add_argument("reference", help="the original it is compared with")
    metrics.add_argument("--y", action="store_true", help="on the BT.601 Y channel")
    metrics.add_argument("--shave", type=int, default=0, help="border pixels to ignore")
    metrics.add_argument("--json", action="store_true", help="print JSON")
    metrics.set_defaults(run=run)
