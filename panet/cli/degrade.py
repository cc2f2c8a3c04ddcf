"""``panet degrade``: make a degraded copy of an image."""

from __future__ import annotations

import argparse
import os

from panet.cli.common import CommandError, check_output, finite_float


#: The largest --noise: far beyond any photo's noise (255 is already a pure noise image).
MAX_SIGMA = 10_000.0


def run(args: argparse.Namespace) -> None:
    try:
        _run(args)
    except CommandError:
        raise
    except ValueError as error:   # from the degradations: say which file it was about
        message = str(error)
        raise CommandError(message if args.input in message or args.output in message
                           else f"{args.input}: {message}") from None


def _run(args: argparse.Namespace) -> None:
    import numpy as np

    from panet import degradations
    from panet.io import FORMATS, load_image, save_image

    check_output(args.input, args.output, args.overwrite)
    out_format = FORMATS.get(os.path.splitext(args.output)[1].lower())
    if out_format is None:
        raise CommandError(f"{args.output}: unknown image extension; use one of "
                           f"{', '.join(sorted(FORMATS))}")
    if args.noise is not None and not 0 <= args.noise <= MAX_SIGMA:
        raise CommandError(f"--noise must be from 0 to {MAX_SIGMA:g}, got {args.noise:g}")
    if args.seed < 0:
        raise CommandError(f"--seed must be non-negative, got {args.seed}")
    if args.downscale is not None and not args.downscale > 0:
        raise CommandError(f"--downscale must be a positive factor, got {args.downscale}")
    image = load_image(args.input)
    folder = os.path.dirname(os.path.abspath(args.output))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{args.output}: cannot create its folder ({error.strerror})")
    pixels, alpha, depth = image.pixels, image.alpha, min(image.bit_depth, 16)
    if args.noise is not None:
        seed = None if args.random else args.seed
        pixels = degradations.add_gaussian_noise(pixels, args.noise, seed=seed,
                                                 clip=not args.float)
        if args.float:
            depth = 32 if out_format == "TIFF" else 16
            if depth == 16 and out_format != "PNG":
                raise CommandError("--float needs a .tif (float, unclipped) or .png (16-bit) output")
        else:
            depth = 8
    elif args.mosaic:
        pixels = degradations.mosaic(pixels, args.mosaic)
    elif args.jpeg is not None:
        if out_format == "JPEG":  # the compressed file itself, not a re-encoding of it
            if alpha is not None and not args.gray_y:
                raise CommandError(f"{args.input} has an alpha channel that JPEG cannot store; "
                                   "write .png or .tif")
            data = degradations.encode_jpeg(image.pixels, args.jpeg, gray_y=args.gray_y)
            from panet.files import atomic_output

            with atomic_output(args.output, suffix=".jpg") as partial:
                with open(partial, "wb") as handle:
                    handle.write(data)
            print(f"wrote {args.output}: JPEG quality {args.jpeg} ({len(data):,} bytes)")
            return
        pixels = degradations.jpeg_roundtrip(pixels, args.jpeg, gray_y=args.gray_y)
        depth = 8
        if args.gray_y:
            alpha = None
    else:
        height, width = pixels.shape[:2]
        if args.downscale > min(height, width):
            raise CommandError(f"--downscale {args.downscale:g} would leave less than one pixel "
                               f"of the {width}x{height} {args.input}")
        factor = 1.0 / args.downscale
        pixels = np.clip(degradations.imresize(pixels, factor), 0, 1)
        if alpha is not None:
            alpha = np.clip(degradations.imresize(alpha, factor), 0, 1)
    if depth > 8 and out_format in ("JPEG", "BMP", "WEBP"):
        depth = 8
    if alpha is not None and out_format not in ("PNG", "TIFF", "WEBP"):
        raise CommandError(f"{args.input} has an alpha channel that {out_format} cannot store; "
                           "write .png or .tif")
    save_image(args.output, pixels, alpha=alpha, bit_depth=depth, exif=image.exif,
               icc_profile=image.icc_profile)
    height, width, channels = pixels.shape
    print(f"wrote {args.output}: {width}x{height}, {channels} channel(s), "
          f"{'float' if depth == 32 else f'{depth}-bit'}")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    degrade = commands.add_parser("degrade", help="make a degraded copy of an image "
                                  "(noise, Bayer mosaic, JPEG, Matlab-style downscaling)")
    degrade.add_argument("input", help="the clean image")
    degrade.add_argument("output", help="the degraded image to write")
    kind = degrade.add_mutually_exclusive_group(required=True)
    kind.add_argument("--noise", type=finite_float, metavar="SIGMA",
                      help="additive white Gaussian noise, sigma on the 0-255 scale")
    kind.add_argument("--mosaic", choices=["RGGB", "BGGR", "GRBG", "GBRG"],
                      help="3-channel Bayer mosaic with zeros where a colour is not sampled")
    kind.add_argument("--jpeg", type=int, metavar="QUALITY", help="JPEG round trip (4:2:0)")
    kind.add_argument("--downscale", type=finite_float, metavar="SCALE",
                      help="Matlab-compatible bicubic downscaling by this factor (2, 3, 4, 1.5, ...)")
    degrade.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    degrade.add_argument("--random", action="store_true", help="fresh random noise, no seed")
    degrade.add_argument("--float", action="store_true", help="keep noisy values unrounded: "
                         "float TIFF (unclipped) or 16-bit PNG")
    degrade.add_argument("--gray-y", action="store_true",
                         help="with --jpeg: compress the BT.601 Y channel only (CAR setting)")
    degrade.add_argument("--overwrite", action="store_true", help="replace an existing output")
    degrade.set_defaults(run=run)
