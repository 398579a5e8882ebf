"""`planted`: the command line. Each subcommand lives in its own module and registers itself here.

User mistakes surface as `PlantedError`: printed as one line, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine import __version__
from engine.errors import PlantedError

# Modules under engine.cli that define `register(subparsers)`; each adds one subcommand.
SUBCOMMAND_MODULES: tuple[str, ...] = ("info", "body", "capture", "retarget")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planted", description="Video to clean, foot-planted character animation."
    )
    parser.add_argument("--version", action="version", version=f"planted {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument(
        "--body-model",
        metavar="PATH",
        help="body model .npz to use instead of the free one (or set PLANTED_BODY_MODEL)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except PlantedError as err:
        print(f"planted: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("planted: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
