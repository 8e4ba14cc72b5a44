"""Generate a synthetic file of PMS records: realistic monthly statements for demos, tests and
benchmarks, the same for the same seed.

Statements follow the monthly cycle: per statement month, one transmission (A ... Z) per filer
with its preliminary statements, then one per filer with the finals, which usually repeat a
preliminary of the same number (final amounts differ when an entry was deleted in between).
Payment types 6, 7 and 8, importer numbers of all three shapes (SSN-shaped ones are synthetic),
fees of the Appendix B classes (mostly MPF 499 and HMF 501, rarely an unknown code), Q7
deletions with valid check digits. Parsed, a clean file gives statements whose checks all pass
(a final that differs from its preliminary reports its difference: the final_difference info).

--bad K injects K bad inputs (malformed records, records out of order) between statements, or
inside them with --bad-inside; --manifest lists each with the reject it must cause (JSON lines)
and --expected writes the statements `pms-stream parse` must print for the file (JSON lines;
`source.file` is the -o name, so parse the file by that name). See docs/generate.md.

examples:
  pms-stream generate --statements 100 --seed 7 -o statements.txt
  pms-stream generate --records 1000000 --framing bare --line-end none -o big.dat
  pms-stream generate --statements 20 --bad 5 --manifest bad.jsonl -o with-bad.txt
  pms-stream generate --statements 5 --daily 2-3 | pms-stream parse -
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import msgspec

from pms_stream.commands.progress import Progress
from pms_stream.generator import (
    BAD_KINDS,
    LINE_ENDS,
    GenerateOptions,
    RecordStream,
    generate,
    write,
)

NAME = "generate"
HELP = "generate a synthetic records file (realistic statements, optional bad inputs)"


def _daily(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        value = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN-MAX or N, not {text!r}") from None
    if not 1 <= value[0] <= value[1]:  # Q1 and Q2 are mandatory: at least one
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX, not {text!r}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)  # a probability, never money
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, not {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, not {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in BAD_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown bad kind(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(BAD_KINDS)}"
        )
    return kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--statements", type=_count, default=10, metavar="N", help="statements (default 10)"
    )
    target.add_argument(
        "--records", type=_count, metavar="N", help="instead: statements until at least N records"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--framing", choices=("block", "bare"), default="block")
    parser.add_argument("--line-end", choices=tuple(LINE_ENDS), default="lf")
    parser.add_argument(
        "--daily",
        type=_daily,
        default=(1, 6),
        metavar="MIN-MAX",
        help="daily statements per statement (default 1-6)",
    )
    parser.add_argument(
        "--finals",
        type=_share,
        default=0.6,
        metavar="P",
        help="share of preliminary statements followed by their final (default 0.6)",
    )
    parser.add_argument(
        "--final-changes",
        type=_share,
        default=0.3,
        metavar="P",
        help="share of finals that differ from their preliminary (default 0.3)",
    )
    parser.add_argument(
        "--deletions",
        type=_share,
        default=0.2,
        metavar="P",
        help="share of statements listing deleted entries in Q7 (default 0.2)",
    )
    parser.add_argument("--bad", type=_count, default=0, metavar="K", help="bad inputs to inject")
    parser.add_argument(
        "--bad-inside",
        type=_share,
        default=0.0,
        metavar="P",
        help="share of bad inputs put inside a statement, not between (default 0)",
    )
    parser.add_argument(
        "--bad-kinds",
        type=_kinds,
        default=BAD_KINDS,
        metavar="K1,K2",
        help=f"kinds of bad input to draw from (default all: {', '.join(BAD_KINDS)})",
    )
    parser.add_argument("--manifest", metavar="FILE", help="write the bad inputs (JSON lines)")
    parser.add_argument(
        "--expected", metavar="FILE", help="write the statements parse must print (JSON lines)"
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="also encode every record with the codec's encoder and compare (slower)",
    )
    parser.add_argument(
        "-o", "--output", default="-", metavar="FILE|-", help="output file (default stdout)"
    )
    parser.add_argument("--quiet", action="store_true", help="no summary line on stderr")


@contextmanager
def _open(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
    else:
        with open(path, "wb") as stream:
            yield stream


def run(args: argparse.Namespace) -> int:
    try:
        options = GenerateOptions(
            statements=args.statements if args.records is None else 0,
            records=args.records,
            seed=args.seed,
            framing=args.framing,
            line_end=args.line_end,
            daily=args.daily,
            finals=args.finals,
            final_changes=args.final_changes,
            deletions=args.deletions,
            bad=args.bad,
            bad_kinds=args.bad_kinds,
            bad_inside=args.bad_inside,
            validate=args.validate,
        )
    except ValueError as exc:
        sys.stderr.write(f"pms-stream generate: {exc}\n")
        return 2
    started = time.monotonic()
    try:
        if options.bad or args.manifest or args.expected:
            made = generate(options)
            with _open(args.output) as out:
                made.write(out)
            records, statements, finals = len(made.records), made.statement_count, made.final_count
            encoder = msgspec.json.Encoder()
            if args.manifest:
                with open(args.manifest, "wb") as f:
                    f.writelines(encoder.encode(m) + b"\n" for m in made.manifest)
            if args.expected:
                with open(args.expected, "wb") as f:
                    f.writelines(encoder.encode(s) + b"\n" for s in made.statements(args.output))
        else:  # nothing to keep: stream, so memory stays flat for any size
            stream = RecordStream(options)
            records = 0
            bar = Progress(not args.quiet)
            with _open(args.output) as out:
                for chunk in stream:
                    write(chunk, out, options.line_end)
                    records += len(chunk)
                    bar.update(f"{records:,} records, {stream.statement_count:,} statements")
            bar.done()
            statements, finals = stream.statement_count, stream.final_count
    except BrokenPipeError:
        raise  # `generate ... | head`: the CLI ends quietly, as for parse
    except OSError as exc:
        sys.stderr.write(f"pms-stream generate: cannot write {exc.filename}: {exc.strerror}\n")
        return 2
    if not args.quiet:
        seconds = time.monotonic() - started
        bad = f", {options.bad} bad" if options.bad else ""
        sys.stderr.write(
            f"pms-stream generate: {records:,} records, {statements:,} statements "
            f"({statements - finals:,} preliminary, {finals:,} final){bad} "
            f"-> {args.output} in {seconds:.1f} s\n"
        )
    return 0
