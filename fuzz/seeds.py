"""Valid inputs to start from: records of every layout and whole streams, all from a seed.

`valid_record` writes a random valid record of a layout field by field (the same rules as the
hypothesis strategies in tests/core/strategies.py, with `random.Random` so that it needs no
hypothesis). `streams` gives record streams: the generator's transmissions (block and bare, with
and without injected bad inputs, LF, CRLF or no line ends) and reroute blocks (MO with QR
requests, MQ with QX answers), which the generator does not write. `seed_inputs(target)` turns
them into the inputs of each fuzz target. Everything is deterministic for a seed.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import msgspec

from pms_stream.catair.codec import encode_record, parse_record
from pms_stream.catair.fields import Cls, Field, Kind, Layout, Status
from pms_stream.catair.layouts import LAYOUTS
from pms_stream.errors import RecordError
from pms_stream.generator import LINE_ENDS, GenerateOptions, generate

__all__ = [
    "LAYOUT_BY_TYPE",
    "PRINTABLE",
    "partition_input",
    "record_of",
    "seed_inputs",
    "streams",
    "valid_record",
]

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
LAYOUT_BY_TYPE = {layout.record_type: layout for layout in LAYOUTS}
_ALPHABETS = {
    Cls.A: string.ascii_uppercase,
    Cls.N: string.digits,
    Cls.AN: string.ascii_uppercase + string.digits,
    Cls.X: PRINTABLE,
}
_FIRST_DAY = date(2000, 1, 1)


def _value(rng: random.Random, f: Field) -> str:
    """A valid, non-blank text of field `f`, at its full width."""
    w = f.width
    if f.lenient:
        return "".join(rng.choice(PRINTABLE) for _ in range(w))
    if f.kind is Kind.AMOUNT:
        return f"{rng.choice([0, rng.randrange(100), rng.randrange(10**w)]):0{w}d}"
    if f.kind is Kind.DATE:
        return (_FIRST_DAY + timedelta(days=rng.randrange(36_524))).strftime("%m%d%y")
    if f.kind is Kind.INT:
        low = f.minimum if f.minimum is not None else 0
        high = f.maximum if f.maximum is not None else 10**w - 1
        return f"{rng.randint(low, high):0{w}d}"
    if f.kind is Kind.SECRET:
        return "".join(rng.choice(_ALPHABETS[Cls.AN]) for _ in range(rng.randint(1, w))).ljust(w)
    if f.values is not None:
        return rng.choice(sorted(f.values)).ljust(w)
    text = "".join(rng.choice(_ALPHABETS[f.cls]) for _ in range(rng.randint(1, w)))
    if f.cls is Cls.X:  # trailing spaces are padding: the value ends in a non-space
        text = text.rstrip(" ") or "X"
    return text.ljust(w)


def valid_record(rng: random.Random, layout: Layout) -> str:
    """A random valid 80-character record of `layout`."""
    filled: dict[str, int] = {}
    for name, count in layout.groups.items():
        first = any(f.group == name and f.slot == 1 and f.status is Status.M for f in layout.fields)
        filled[name] = rng.randint(1 if first else 0, count)
    out: list[str] = []
    for f in layout.fields:
        if f.kind is Kind.CONST:
            out.append(f.const or "")
        elif f.kind is Kind.FILLER:
            out.append(" " * f.width)
        elif f.group is not None:
            inside = f.slot is not None and f.slot <= filled[f.group]
            out.append(_value(rng, f) if inside else " " * f.width)
        elif f.status is Status.M or f.lenient or rng.random() < 0.7:
            out.append(_value(rng, f))
        else:
            out.append(" " * f.width)
    return "".join(out)


def record_of(rng: random.Random, record_type: str, **values: Any) -> bytes:
    """A valid record of `record_type` with the given attribute values (typed, e.g. a date)."""
    for _ in range(100):
        record = parse_record(valid_record(rng, LAYOUT_BY_TYPE[record_type]))
        try:
            return encode_record(msgspec.structs.replace(record, **values))
        except RecordError:  # a value that does not fit beside what was drawn: draw again
            continue
    raise ValueError(f"no valid {record_type} record with {values}")


def _reroute_block(rng: random.Random, application: str, count: int) -> list[bytes]:
    port, filer = "2704", "B76"
    kind = "QR" if application == "MO" else "QX"
    head = record_of(rng, "A", site_code=port, filer_code=filer)
    b = record_of(rng, "B", district_port=port, filer_code=filer, application_id=application)
    body = [record_of(rng, kind) for _ in range(count)]
    y = record_of(
        rng, "Y", district_port=port, filer_code=filer, application_id=application
    ).decode()
    y = y[:12] + f"{count:05d}" + y[17:]
    tail = record_of(rng, "Z", site_code=port, filer_code=filer)
    return [head, b, *body, y.encode(), tail]


def streams(seed: int = 1) -> Iterator[tuple[list[bytes], bytes]]:
    """(records, line end) pairs: small transmissions of every shape the assembler meets."""
    rng = random.Random(seed)  # noqa: S311 - test inputs, not secrets
    for i, (framing, line_end, bad) in enumerate(
        [
            ("block", "lf", 0),
            ("bare", "lf", 0),
            ("block", "crlf", 2),
            ("bare", "none", 2),
            ("block", "none", 0),
            ("bare", "crlf", 3),
            ("block", "lf", 4),
        ]
    ):
        options = GenerateOptions(
            statements=2,
            seed=seed * 100 + i,
            framing=framing,  # type: ignore[arg-type]
            line_end=line_end,  # type: ignore[arg-type]
            daily=(1, 2),
            bad=bad,
            bad_inside=0.5,
        )
        yield generate(options).records, LINE_ENDS[line_end]
    yield _reroute_block(rng, "MO", 2), b"\n"
    yield _reroute_block(rng, "MQ", 3), b"\r\n"
    yield [record_of(rng, "QR"), record_of(rng, "QX")], b"\n"
    yield [valid_record(rng, layout).encode() for layout in LAYOUTS], b""


def partition_input(records: list[bytes], rng: random.Random) -> bytes:
    """A partition-task input (see targets.partition): the records as messages of a few keys,
    with message and batch boundaries, an idle tick, a tombstone and a crash point."""
    lines: list[bytes] = []
    keys = [b"@k0", b"@k1", b"@k"]
    for start in range(0, len(records), 3):
        lines.append(rng.choice(keys))
        lines.extend(records[start : start + rng.randint(1, 3)])
        lines.append(rng.choice([b"@m", b"@m", b"@b", b"@c", b"@x", b"@t"]))
    return b"\n".join(lines) + b"\n"


def seed_inputs(target: str, seed: int = 1) -> list[bytes]:
    """The seed inputs of `target` ("codec", "framing", "assembler" or "partition")."""
    rng = random.Random(seed)  # noqa: S311 - test inputs, not secrets
    out: list[bytes] = []
    if target == "codec":
        for layout in LAYOUTS:
            for end in (b"", b"", b"\n", b"\r\n"):
                out.append(valid_record(rng, layout).encode() + end)
        return out
    for records, end in streams(seed):
        body = end.join(records) + end
        if target == "framing":
            out.append(body)
        elif target == "assembler":
            out.append(bytes([rng.randrange(256)]) + body)
        else:
            out.append(partition_input(records, rng))
    return out
