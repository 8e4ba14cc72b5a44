"""The `pms-stream` command line: entry point that dispatches to subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pms_stream._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pms-stream",
        description="CBP Periodic Monthly Statement (CATAIR MS) records: parse, assemble, publish.",
    )
    parser.add_argument("--version", action="version", version=f"pms-stream {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
