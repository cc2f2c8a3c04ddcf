"""``panet restore``: restore image files, folders and glob patterns."""

from __future__ import annotations

import argparse
import os
import sys

from panet.cli.common import CommandError, finite_float, precision_dtype
from panet.degradations import BAYER_PATTERNS
from panet.tasks import FAMILIES


def _options(args: argparse.Namespace, device):
    """The command's options as :class:`~panet.restorer.RestoreOptions` (levels and
    tiling checked there, by the task)."""
    from panet.restorer import RestoreOptions
    from panet.tasks import get_task

    if not 0 < args.max_memory <= 2**20:
        raise CommandError(f"--max-memory must be from 0 to 1048576 GiB, got {args.max_memory:g}")

    for family in FAMILIES:   # every level given is checked, whichever task it is for
        option = get_task(family).level_option
        if getattr(args, option, None) is not None:
            try:
                get_task(family).parse_level(str(getattr(args, option)))
            except ValueError as error:
                raise CommandError(f"--{option}: {error}") from None
    task = get_task(args.task)
    try:
        return RestoreOptions(
            task=task, level=getattr(args, task.level_option), tile=args.tile,
            overlap=args.overlap, max_memory_bytes=int(args.max_memory * 2**30),
            ensemble=args.ensemble, protocol=args.protocol,
            consistency=not args.no_consistency,
            dtype=precision_dtype(args.precision, args.device), device=device)
    except ValueError as error:
        raise CommandError(f"--{error}") from None


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from panet.hardware import available_device
    from panet.io import FORMATS
    from panet.restore_files import check_target, expand_inputs, output_target, restore_file
    from panet.restorer import choose_models
    from panet.workers import Workers

    workers = Workers.from_environment()   # under torchrun: this process's share of files
    device = available_device(args.device)   # before anything is loaded
    if device.type == "cuda" and workers.distributed and device.index is None:
        device = available_device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
    options = _options(args, device)
    try:
        models, warnings = choose_models(options, args.model)
    except ValueError as error:
        raise CommandError(str(error)) from None
    for warning in warnings:
        print(f"panet: warning: {warning}", file=sys.stderr)
    try:
        files = expand_inputs(args.inputs, args.recursive)
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None
    if not files:
        raise CommandError(f"no images in {', '.join(args.inputs)} (looked for "
                           f"{', '.join(sorted(FORMATS))}"
                           f"{'' if args.recursive else '; --recursive descends into folders'})")
    single = len(files) == 1 and os.path.isfile(args.inputs[0]) and len(args.inputs) == 1
    out_is_file = bool(args.output) and single and \
        os.path.splitext(args.output)[1].lower() in FORMATS
    failed = skipped = 0
    mine = [files[i] for i in workers.share([_size(path) for path, _ in files])]
    bar = tqdm(mine, unit="image", disable=args.quiet or len(mine) < 2 or workers.rank > 0)
    for path, relative in bar:
        target = output_target(path, relative, args.output, out_is_file)
        refused = check_target(path, target, args.overwrite)
        if refused == "skip":
            skipped += 1
            continue
        if refused:
            print(f"panet: error: {refused}", file=sys.stderr)
            failed += 1
            continue
        bars = []

        def plan(total: int, name: str = os.path.basename(path)):
            bars.append(tqdm(total=total, unit="tile", leave=False, desc=name,
                             disable=args.quiet or total < 2))
            return lambda: bars[0].update(1)

        try:
            note = restore_file(path, target, models, options, on_plan=plan)
            if not args.quiet:
                print(f"{path} -> {target}" + (f" ({note})" if note else ""))
        except (ValueError, OSError, RuntimeError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if path not in message and target not in message:   # say which file it was
                message = f"{path}: {message}"
            print(f"panet: error: {message}", file=sys.stderr)
            failed += 1
        finally:
            for tiles in bars:
                tiles.close()
    # Every process finishes its share before any exits: torchrun stops the others as soon
    # as one exits with an error. Rank 0 alone then exits with the status of the whole job.
    failed, skipped = workers.total(failed), workers.total(skipped)
    workers.close()
    if workers.rank > 0:
        return 0
    if skipped:
        print(f"{skipped} output(s) already existed and were skipped (--overwrite replaces them)")
    return 1 if failed else 0


def _size(path: str) -> int:
    """A file's share of the work (0 for one that cannot be read: it fails at once)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    restore = commands.add_parser("restore", help="restore images (files, folders, globs)")
    restore.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="image files, folders or glob patterns")
    restore.add_argument("-o", "--output", help="output file (one input) or folder")
    restore.add_argument("--task", required=True, choices=FAMILIES,
                         help="what to undo: noise, a Bayer mosaic, JPEG artifacts, low resolution")
    restore.add_argument("--sigma", type=finite_float, help="noise level of the input (0-255). The "
                         "shipped denoisers are blind (sigma 0-75), so it is optional: "
                         "without it the level is estimated and reported")
    restore.add_argument("--pattern", default="RGGB", choices=BAYER_PATTERNS,
                         help="Bayer pattern of a mosaic (demosaic)")
    restore.add_argument("--quality", type=int, help="JPEG quality of the input (optional: "
                         "the shipped models are blind over 10-40; read from JPEG files)")
    restore.add_argument("--scale", type=int, help="SR factor")
    restore.add_argument("--model", help="registered model name or weights file")
    restore.add_argument("--tile", type=int, help="tile size (default: from --max-memory)")
    restore.add_argument("--overlap", type=int,
                         help="tile overlap in pixels (default: the model's own, scaled to "
                         "the tile; a sixth of the tile, 8 to 16, for models that name none)")
    restore.add_argument("--max-memory", type=finite_float, default=4.0,
                         help="GiB for the whole process (sets the tile size; default 4)")
    restore.add_argument("--ensemble", action="store_true", help="average 8 flips/rotations")
    restore.add_argument("--no-consistency", action="store_true",
                         dest="no_consistency",
                         help="leave the network's output as it is (default: keep what the "
                              "input says about the original: a JPEG file's quantisation "
                              "intervals, an SR output that shrinks back to the input, a "
                              "mosaic's samples; not with --protocol paper)")
    restore.add_argument("--protocol", choices=["default", "paper"], default="default",
                         help="paper: the authors' test-time chopping")
    restore.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="fp32",
                         help="fp32 (default); auto: bfloat16 where this machine runs it "
                              "faster ('panet env' says which), about 1.4-1.6x faster there "
                              "and up to 0.08 dB lower for SR")
    restore.add_argument("--device", default="cpu",
                         help="torch device to run on: cpu (default), cuda, cuda:1, mps")
    restore.add_argument("--recursive", action="store_true", help="descend into folders")
    restore.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    restore.add_argument("--quiet", action="store_true", help="no progress bar")
    restore.set_defaults(run=run)
