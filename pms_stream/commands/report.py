"""Placeholder for the 'report' subcommand, being written now (issue 4)."""

from __future__ import annotations

import argparse
import sys

NAME = "report"
HELP = "(not yet available)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    sys.stderr.write("pms-stream report: not yet available\n")
    return 2
