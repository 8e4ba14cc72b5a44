"""The `pms-stream` command line: one subcommand per module in `pms_stream.commands`.

Each command module has `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from pms_stream._version import __version__
from pms_stream.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pms-stream",
        description=(
            "CBP Periodic Monthly Statement (CATAIR application MS) records: parse, assemble "
            "and publish statements, offline on files or as a Kafka service."
        ),
        epilog="Run 'pms-stream COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"pms-stream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        command = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.set_defaults(module=module)
        module.add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module: ModuleType = args.module
    try:
        code: int = module.run(args)
    except BrokenPipeError:  # `pms-stream parse big.txt | head` is fine
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
