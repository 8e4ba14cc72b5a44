"""The ACH cash forecast, offline: for every payer and due date, the amount that will be debited
(the sum of amount due over the latest version of each statement due that day; a final replaces
its preliminary), by component and fee class, the number of statements and how many are still
preliminary, and the change since the previous forecast of that key.

Input is a records file (parsed as `pms-stream parse` does) or the JSON lines `pms-stream parse`
or `pms-stream tail` write (only "statement" events are used); the first non-blank byte decides
unless --input says. Output: one "forecast" JSON line per payer and due date, in due-date order
(the latest value per key, as the compacted forecasts topic holds it); with --updates, every
forecast as it changes, in input order (a final that lowers the amount shows a negative change).

exit status: 0; 1 when a JSON line could not be read as an event; 2 for unreadable files.

examples:
  pms-stream forecast statements.txt
  pms-stream forecast --updates statements.txt
  pms-stream tail --topic pms.statements --from-beginning | pms-stream forecast -
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import BinaryIO

import msgspec

from pms_stream.commands.parse import parse_stream

# the record/JSON detection and the JSON-lines sink of `pms-stream report`, shared
from pms_stream.commands.report import _detect, _JsonLines, add_input_arguments
from pms_stream.forecast.aggregate import ForecastBook
from pms_stream.forecast.event import ForecastEvent
from pms_stream.statements.model import Event, Statement

NAME = "forecast"
HELP = "the ACH cash forecast per payer and due date, offline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--updates", action="store_true", help="print every forecast as it changes")


def read_statements(
    stream: BinaryIO, name: str, handle: Callable[[Statement], None], kind: str = "auto"
) -> int:
    """Hand every statement in `stream` (records or JSON lines) to `handle`; returns the
    number of JSON lines that were not events."""
    decoder = msgspec.json.Decoder(Event)
    unreadable = 0

    def line(number: int, data: bytes) -> None:
        nonlocal unreadable
        if not data.strip():
            return
        try:
            event = decoder.decode(data)
        except msgspec.DecodeError as exc:
            unreadable += 1
            sys.stderr.write(f"pms-stream forecast: line {number}: not an event: {exc}\n")
            return
        if isinstance(event, Statement):
            handle(event)

    if kind == "auto":
        kind, stream = _detect(stream)
    if kind == "json":
        for number, data in enumerate(stream, 1):
            line(number, data)
    else:
        with _JsonLines(line) as sink:
            parse_stream(stream, name, sink)
    return unreadable


def forecast_stream(
    stream: BinaryIO, name: str, kind: str = "auto"
) -> tuple[ForecastBook, list[ForecastEvent], int]:
    """The book after every statement of `stream`, the forecasts in the order they changed,
    and the count of unreadable lines."""
    book = ForecastBook()
    updates: list[ForecastEvent] = []
    unreadable = read_statements(stream, name, lambda s: updates.extend(book.apply(s)), kind)
    return book, updates, unreadable


def run(args: argparse.Namespace) -> int:
    try:
        stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        sys.stderr.write(f"pms-stream forecast: cannot read {args.file}: {exc.strerror}\n")
        return 2
    with stream:
        book, updates, unreadable = forecast_stream(stream, args.file, args.input)
    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    events = updates if args.updates else sorted(book.forecasts(), key=_order)
    for event in events:
        out.write(encoder.encode(event) + b"\n")
    out.flush()
    sys.stderr.write(
        f"pms-stream forecast: {len(book):,} statement(s), {len(book.forecasts()):,} "
        f"payer and due date forecast(s)\n"
    )
    return 1 if unreadable else 0


def _order(event: ForecastEvent) -> tuple[str, str]:
    return event.due_date.isoformat(), event.payer
