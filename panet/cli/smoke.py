"""``panet smoke``: run a random-weight model on the bundled picture."""

from __future__ import annotations

import argparse
import time

from panet.cli.common import CommandError, check_output, finite_float, peak_memory_mib


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from panet.io import read_image, sample_image_path, write_image
    from panet.metrics import psnr
    from panet.models import count_parameters, create_model

    if args.sigma < 0:
        raise CommandError(f"--sigma must be non-negative, got {args.sigma}")
    path = args.image or sample_image_path()
    if args.output:
        check_output(path, args.output, args.overwrite)
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
          f"peak memory {peak_memory_mib():.0f} MiB")
    print(f"PSNR      noisy input (sigma {args.sigma:g}) {psnr(noisy, clean):.2f} dB; "
          f"random-weight output {psnr(restored, clean):.2f} dB")
    if args.output:
        write_image(args.output, restored)
        print(f"wrote     {args.output}")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    smoke = commands.add_parser("smoke", help="run a random-weight model on the bundled "
                                "picture (checks the installation)")
    smoke.add_argument("--image", help="image to use instead of the bundled picture")
    smoke.add_argument("--model", default="panet-s", help="registered model name")
    smoke.add_argument("--sigma", type=finite_float, default=25.0, help="noise level on 0-255")
    smoke.add_argument("--seed", type=int, default=0, help="seed of the noise and the weights")
    smoke.add_argument("-o", "--output", help="write the output image here")
    smoke.add_argument("--overwrite", action="store_true", help="replace an existing output")
    smoke.set_defaults(run=run)
