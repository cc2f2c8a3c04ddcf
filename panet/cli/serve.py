"""``panet serve``: the browser app (Gradio; ``pip install "panet[web]"``)."""

from __future__ import annotations

import argparse

from panet.cli.common import CommandError, finite_float


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise CommandError(f"--port must be from 1 to 65535, got {args.port}")
    if args.concurrency < 1:
        raise CommandError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.max_pixels < 1:
        raise CommandError(f"--max-pixels must be at least 1, got {args.max_pixels}")
    if not 0 < args.max_memory <= 2**20:
        raise CommandError(f"--max-memory must be from 0 to 1048576 GiB, got {args.max_memory:g}")
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise CommandError("the browser app needs Gradio: pip install 'panet[web]'")
    from panet.web import ServeSettings, build_app

    app = build_app(ServeSettings(args.max_pixels, args.max_memory, args.concurrency))
    print(f"panet: serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    try:
        app.launch(server_name=args.host, server_port=args.port, share=False, quiet=True,
                   theme=app.panet_theme, footer_links=["api"], show_error=True)
    except OSError as error:
        raise CommandError(f"cannot serve on {args.host}:{args.port} ({error})") from None
    return 0


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    serve = commands.add_parser("serve", help="a browser app to restore photos (Gradio)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: this "
                       "machine only; 0.0.0.0 opens it to the network)")
    serve.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    serve.add_argument("--max-pixels", type=int, default=24_000_000,
                       help="largest upload in pixels (default 24 MP)")
    serve.add_argument("--max-memory", type=finite_float, default=4.0,
                       help="GiB per restore, as panet restore --max-memory (default 4)")
    serve.add_argument("--concurrency", type=int, default=1,
                       help="restores run at once; the others wait in a queue (default 1)")
    serve.set_defaults(run=run)
