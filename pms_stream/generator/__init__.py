"""Synthetic PMS transmissions: realistic records for demos, tests and benchmarks.

`generate(options)` returns the 80-character records of N periodic monthly statements (or of
enough statements to reach a record count), the statements a correct parser must make of them
(`Generated.statements()`, model `Statement`s) and, when bad inputs were injected on purpose,
the manifest of each one and the reject it must cause. Everything is deterministic for a seed:
content comes from `random.Random(seed)`, injections from a second generator seeded from it, so
a run with bad inputs holds exactly the records of the clean run plus the injected ones.

What is generated follows the monthly cycle (docs/generate.md): per statement month, one
transmission per filer with its preliminary statements (printed on the 11th working day of the
next month), then one per filer with the final statements (printed the day before the due date,
the 15th working day). A final usually follows its preliminary, with the same number; its Q3/Q4
/QE repeat the preliminary totals and Q5/Q6/QJ carry the final ones, which differ when an entry
summary was deleted in between (listed in Q7). Amounts are integer cents, never floats.

Records are rendered from format strings compiled from the layouts (`layouts.py`) once, and a
daily statement that a final repeats unchanged reuses its preliminary's bytes. With
`validate=True` every record is also built as a typed record and encoded by `encode_record`,
and the two must be identical (the tests run both ways); `write` adds the line ends.

The package, in the order of the flow: `options` (what to generate; statements as generated),
`render` (records from format strings compiled from the layouts), `month` (the month simulation),
`inject` (bad inputs and their manifest), `expected` (the statements a parser must make of it).
This module holds the public entry points; `pms_stream.generator` is the only import path.

Flow: **generator** -> (file, Kafka) -> framing -> codec -> assembler; `pms-stream generate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pms_stream.generator.expected import expected_statement
from pms_stream.generator.inject import Injector
from pms_stream.generator.month import Maker
from pms_stream.generator.options import (
    BAD_KINDS,
    LINE_ENDS,
    Framing,
    GenerateOptions,
    LineEnd,
    ManifestEntry,
    Spec,
)
from pms_stream.statements.model import Statement

__all__ = [
    "BAD_KINDS",
    "LINE_ENDS",
    "Framing",
    "GenerateOptions",
    "Generated",
    "LineEnd",
    "ManifestEntry",
    "RecordStream",
    "generate",
    "write",
]


@dataclass(frozen=True, slots=True)
class Generated:
    """The records, the statements they hold, and the manifest of injected bad inputs."""

    options: GenerateOptions
    records: list[bytes]
    manifest: list[ManifestEntry]
    _specs: list[Spec]

    @property
    def statement_count(self) -> int:
        return len(self._specs)

    @property
    def final_count(self) -> int:
        return sum(1 for s in self._specs if s.status == "final")

    def statements(self, file: str | None = None) -> list[Statement]:
        """The statements `pms-stream parse` must make of the records written with the
        options' line end (`file` is the name it reports in `source`)."""
        return [expected_statement(s, self.options, file) for s in self._specs]

    def write(self, stream: BinaryIO) -> None:
        write(self.records, stream, self.options.line_end)


def generate(options: GenerateOptions) -> Generated:
    """The records of `options`, their statements and the manifest of bad inputs."""
    maker = Maker(options=options, keep=True)
    records: list[bytes] = []
    for chunk in maker.chunks():
        records += chunk
    manifest: list[ManifestEntry] = []
    if options.bad:
        records, manifest = Injector(options=options, records=records, specs=maker.specs).run()
    return Generated(options=options, records=records, manifest=manifest, _specs=maker.specs)


class RecordStream:
    """The records of a clean run (`bad` is ignored), in chunks, keeping nothing: memory stays
    flat however many records are asked for. The same records as `generate(options).records`.
    """

    def __init__(self, options: GenerateOptions) -> None:
        self._maker = Maker(options=options, keep=False)

    def __iter__(self) -> Iterator[list[bytes]]:
        return self._maker.chunks()

    @property
    def statement_count(self) -> int:
        """Statements in the records iterated so far."""
        return self._maker.statements

    @property
    def final_count(self) -> int:
        return self._maker.finals


def write(records: Iterable[bytes], stream: BinaryIO, line_end: LineEnd = "lf") -> None:
    """Write records to a binary stream, each followed by the line end ("none": concatenated)."""
    end = LINE_ENDS[line_end]
    batch: list[bytes] = []
    for record in records:
        batch.append(record)
        if len(batch) >= 8192:
            stream.write(end.join(batch) + end)
            batch.clear()
    if batch:
        stream.write(end.join(batch) + end)
