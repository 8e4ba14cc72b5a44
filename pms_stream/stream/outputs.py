"""Outputs: how each event becomes a Kafka message (topic, key, value, headers).

Keys follow the design notes so that compaction and partitioning follow filer and importer:
- statements: `filer|importer|statement number|status` — a compacted statements topic keeps the
  latest version of each preliminary and each final statement (the reroute store reads it);
- reroute requests and acknowledgements: the filer code;
- rejects: the input message's key (so rejects of one stream stay in order);
- metrics: the filer code for statement summaries, none for snapshots.
Values are the JSON of `pms_stream.statements.model` (msgspec, one shared encoder).

Summaries (metrics topic contract 2): a statement's output no longer brings its own summary
message; `with_summaries` folds the summaries of the statements published in one transaction
into `statement_summaries` messages, one per filer code (the key, as before), each holding the
`statement_summary` objects in publication order and split so that each fits the metrics topic's
limit. The publisher adds them to the same transaction as their statements.

Size: `fit` checks each output against the real limit of its topic (`max.message.bytes`, read
from the broker by the runner). An output too large for its topic becomes a dead letter saying
so, with the output's whole JSON as its raw text; a dead letter too large for the rejects topic
is split into several dead letters, each a complete `rejected` event holding a slice of the raw
bytes, with headers `pms-chunk` ("i/n"), `pms-chunk-sha256` and `pms-raw-bytes` to reassemble
them (`reassemble`; docs/statement-contract.md).

Flow: assembler -> **outputs** -> producer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import msgspec

from pms_stream.domain.importer_numbers import looks_like_ssn, redact
from pms_stream.statements.model import (
    Event,
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Source,
    Statement,
    Status,
    Totals,
)

__all__ = [
    "RECORD_OVERHEAD",
    "Output",
    "Sink",
    "fit",
    "published_statement",
    "reassemble",
    "record_size",
    "statement_key",
    "statement_summary",
    "summary_outputs",
    "to_outputs",
    "with_summaries",
]

# What a record costs in a batch besides its key, value and headers: the batch header (61 bytes)
# and the record's own varints and attributes, with room to spare.
RECORD_OVERHEAD = 128
CHUNK_HEADER = "pms-chunk"
CHUNK_SHA256_HEADER = "pms-chunk-sha256"
RAW_BYTES_HEADER = "pms-raw-bytes"
SUMMARIES = "statement_summaries"
_SUMMARIES_HEADERS = (("pms-type", SUMMARIES.encode()),)

_ENCODER = msgspec.json.Encoder()


class Sink(StrEnum):
    """Which configured topic an output goes to."""

    STATEMENTS = "statements"
    REROUTE_ACKS = "reroute_acks"
    REJECTS = "rejects"
    METRICS = "metrics"


@dataclass(frozen=True, slots=True)
class Output:
    sink: Sink
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: Event | None = None


def statement_key(statement: Statement, secret: bytes | None = None) -> bytes:
    """`filer|importer|number|status`: one key per version a downstream store keeps.

    With a `secret` (`PMS_STATEMENT_KEY_SECRET`) an SSN-shaped importer number is written as
    `hmac:` and 32 hex digits of its HMAC-SHA256 under the secret: the same importer always
    gets the same key (compaction and the reroute store work as before), and nobody without
    the secret can turn the key back into the number (an unkeyed hash of the 10^9 SSNs could be
    reversed by trying them all). Other importer numbers (IRS, CBP-assigned) stay as they are.
    """
    importer = statement.importer_number or ""
    if secret is not None and importer and looks_like_ssn(importer):
        importer = "hmac:" + hmac.new(secret, importer.encode(), hashlib.sha256).hexdigest()[:32]
    number, status = statement.statement_number, statement.status
    return f"{statement.filer_code}|{importer}|{number}|{status}".encode()


class _Totals(msgspec.Struct):
    """`metrics_events.SummaryTotals` with the statement's Decimals (encoded as their text)."""

    duty: Decimal
    tax: Decimal
    add: Decimal
    cvd: Decimal
    amount_due: Decimal
    fees: dict[str, Decimal]


class _Summary(msgspec.Struct, tag="statement_summary", tag_field="type"):
    """`metrics_events.StatementSummary`, field for field (tests/core/test_schema_contract)."""

    statement_number: str
    status: Status
    filer_code: str
    importer_number: str | None
    payment_type: str | None
    district_port: str | None
    daily_statements: int
    deleted_entries: int
    preliminary_totals: _Totals | None
    final_totals: _Totals | None
    difference: _Totals | None
    checks: list[str]


def _totals(t: Totals | None) -> _Totals | None:
    if t is None:
        return None
    fees = {f.code: f.amount for f in t.fees}
    return _Totals(t.duty, t.tax, t.add, t.cvd, t.amount_due, fees)


def statement_summary(statement: Statement) -> bytes:
    """The per-statement summary for the metrics topic (dashboards downstream), as JSON: the
    importer number redacted when it is shaped like a Social Security number, the codes of the
    failed checks, amounts as the statement's own JSON writes them (msgspec writes a Decimal as
    its text, and the statement's amounts are exact cents: "1234.56", the money pattern)."""
    s = statement
    return _ENCODER.encode(
        _Summary(
            s.statement_number,
            s.status,
            s.filer_code,
            redact(s.importer_number),
            s.payment_type,
            s.district_port,
            len(s.daily_statements),
            len(s.deleted_entries),
            _totals(s.preliminary_totals),
            _totals(s.final_totals),
            _totals(s.difference),
            sorted({c.code for c in s.checks}),
        )
    )


def to_outputs(
    event: Event,
    input_key: bytes | None,
    source: str,
    key_secret: bytes | None = None,
    encoded: bytes | None = None,
) -> list[Output]:
    """The messages for one event. `source` ("topic:partition:offset") goes in a header;
    `key_secret` is `statement_key`'s; `encoded`, when given, is the event's JSON already
    written (the fast path's statement line, without its line end)."""
    kind = event.__struct_config__.tag
    assert isinstance(kind, str)
    headers = (("pms-type", kind.encode()), ("pms-source", source.encode()))
    value = _ENCODER.encode(event) if encoded is None else encoded
    if isinstance(event, Statement):  # its summary: with_summaries, when published
        return [Output(Sink.STATEMENTS, statement_key(event, key_secret), value, headers, event)]
    if isinstance(event, RerouteRequestEvent | RerouteAckEvent):
        key = (event.filer_code or "").encode() if isinstance(event, RerouteRequestEvent) else None
        return [Output(Sink.REROUTE_ACKS, key, value, headers, event)]
    assert isinstance(event, RejectedEvent)
    return [Output(Sink.REJECTS, input_key, value, headers, event)]


# ---- summaries: folded per transaction and filer ----------------------------------------------

_STATEMENT_DECODER = msgspec.json.Decoder(Statement)


def published_statement(out: Output) -> Statement | None:
    """The statement `out` publishes for the first time: its event, or its value decoded when a
    statement output was built without one; None for other outputs and reroute copies."""
    if out.sink is not Sink.STATEMENTS:
        return None
    event = out.event
    if isinstance(event, Statement):
        return event if event.reroute_of is None else None
    if any(name == "pms-reroute-of" for name, _ in out.headers):
        return None
    try:
        statement = _STATEMENT_DECODER.decode(out.value)
    except msgspec.DecodeError:
        return None
    return statement if statement.reroute_of is None else None


def summary_outputs(statements: Iterable[Statement], limit: int | None = None) -> list[Output]:
    """The `statement_summaries` messages of `statements`: one per filer code (the key), each
    `{"type": "statement_summaries", "filer_code", "summaries": [statement_summary, ...]}` in
    the order given, split into several when one would exceed `limit` (the metrics topic's
    largest record; None: unlimited). A single summary over the limit goes alone (and `fit`
    dead-letters it, as it did the per-statement message)."""
    by_filer: dict[str, list[bytes]] = {}
    for statement in statements:
        by_filer.setdefault(statement.filer_code, []).append(statement_summary(statement))
    outputs: list[Output] = []
    for filer, summaries in by_filer.items():
        key = filer.encode()
        head = b'{"type":"' + SUMMARIES.encode() + b'","filer_code":' + _ENCODER.encode(filer)
        head += b',"summaries":['
        empty = record_size(Output(Sink.METRICS, key, head + b"]}", _SUMMARIES_HEADERS))
        room = None if limit is None else limit - empty
        start, size = 0, 0
        for i, summary in enumerate(summaries):
            cost = len(summary) + (1 if i > start else 0)
            if room is not None and i > start and size + cost > room:
                value = head + b",".join(summaries[start:i]) + b"]}"
                outputs.append(Output(Sink.METRICS, key, value, _SUMMARIES_HEADERS))
                start, cost, size = i, len(summary), 0
            size += cost
        value = head + b",".join(summaries[start:]) + b"]}"
        outputs.append(Output(Sink.METRICS, key, value, _SUMMARIES_HEADERS))
    return outputs


def with_summaries(outputs: list[Output], limits: Mapping[Sink, int]) -> list[Output]:
    """`outputs` and, after them, the `statement_summaries` of the statements among them (for
    the transaction that publishes them all)."""
    statements = [s for s in map(published_statement, outputs) if s is not None]
    if not statements:
        return outputs
    return outputs + summary_outputs(statements, limits.get(Sink.METRICS))


# ---- sizes: outputs against their topics' limits -------------------------------------------


def record_size(out: Output) -> int:
    """The bytes `out` takes in a record batch of its own (what `max.message.bytes` limits)."""
    headers = sum(len(name.encode()) + len(value) + 10 for name, value in out.headers)
    return len(out.value) + len(out.key or b"") + headers + RECORD_OVERHEAD


def fit(out: Output, limits: Mapping[Sink, int], now: datetime) -> list[Output]:
    """`out` as it can be published: itself when it fits the limit of its sink's topic; else, for
    a statement, summary or reroute event, a dead letter that says so (its raw text the output's
    whole JSON); a dead letter too large for the rejects topic split into parts (`_split`).

    `limits` maps each sink to the largest record its topic takes (the topic's
    `max.message.bytes`, capped by the producer's request size); a sink not in it is unlimited.
    """
    limit = limits.get(out.sink)
    if limit is None or record_size(out) <= limit:
        return [out]
    if out.sink is not Sink.REJECTS:
        out = _dead_letter(out, limit, now)
        reject_limit = limits.get(Sink.REJECTS)
        if reject_limit is None or record_size(out) <= reject_limit:
            return [out]
        limit = reject_limit
    return _split(out, limit)


def _dead_letter(out: Output, limit: int, now: datetime) -> Output:
    event = out.event
    source = event.source if isinstance(event, Statement | RejectedEvent) else Source()
    count = event.record_count if isinstance(event, Statement | RejectedEvent) else 0
    what = (
        f"statement {event.statement_number} ({event.status})"
        if isinstance(event, Statement)
        else f"{out.sink.value} output"
    )
    reject = RejectedEvent(
        kind="statement",
        reason=f"{what} of {record_size(out)} bytes is over the {out.sink.value} topic's limit of "
        f"{limit} bytes (its max.message.bytes); raw holds the output's JSON: raise the topic's "
        "max.message.bytes (and PMS_MAX_STATEMENT_BYTES) to publish it",
        raw=out.value.decode("latin-1"),
        record_count=count,
        source=source,
        time=now,
    )
    source_headers = tuple(h for h in out.headers if h[0] == "pms-source")
    headers = (("pms-type", b"rejected"), *source_headers)
    return Output(Sink.REJECTS, out.key, _ENCODER.encode(reject), headers, reject)


def _json_size(text: str) -> int:
    return len(_ENCODER.encode(text)) - 2


def _split(out: Output, limit: int) -> list[Output]:
    """A dead letter over `limit` as n dead letters, each the same event with a slice of `raw`
    and the reason saying which part it is; headers `pms-chunk: i/n` (from 1),
    `pms-chunk-sha256` (of all the raw bytes) and `pms-raw-bytes` (their count)."""
    event = out.event
    if not isinstance(event, RejectedEvent):  # never: every reject carries its event
        event = msgspec.json.decode(out.value, type=RejectedEvent)
    data = event.raw.encode("latin-1")
    digest = hashlib.sha256(data).hexdigest()
    key = out.key if out.key is None or len(out.key) <= limit // 4 else None
    base = [h for h in out.headers if h[0] not in (CHUNK_HEADER, CHUNK_SHA256_HEADER)]
    base += [(CHUNK_SHA256_HEADER, digest.encode()), (RAW_BYTES_HEADER, str(len(data)).encode())]

    def part(index: int, count: int, raw: str) -> Output:
        reject = msgspec.structs.replace(
            event,
            reason=f"{event.reason} [part {index} of {count}: the {len(data)} raw bytes are "
            f"split over {count} dead letters; join their raw text in the order of the "
            f"{CHUNK_HEADER} header]",
            raw=raw,
        )
        headers = (*base, (CHUNK_HEADER, f"{index}/{count}".encode()))
        return Output(Sink.REJECTS, key, _ENCODER.encode(reject), headers, reject)

    # room for the raw text in one part: the limit less a part with empty raw text (the widest
    # index and count); then each slice is shrunk until its JSON text fits.
    empty = record_size(part(99_999_999, 99_999_999, ""))
    room = limit - empty
    if room < 64:
        raise ValueError(f"a limit of {limit} bytes leaves no room for a dead letter's raw bytes")
    text = event.raw
    slices: list[str] = []
    start = 0
    while start < len(text):
        size = min(room, len(text) - start)
        while (cost := _json_size(text[start : start + size])) > room:
            size = max(size * room // cost - 1, 1)
        slices.append(text[start : start + size])
        start += size
    slices = slices or [""]
    parts = [part(i, len(slices), raw) for i, raw in enumerate(slices, 1)]
    # the reject is counted once (metrics): only the first part carries the event
    return [parts[0], *(Output(p.sink, p.key, p.value, p.headers, None) for p in parts[1:])]


def reassemble(parts: Iterable[tuple[Mapping[str, bytes], bytes]]) -> bytes:
    """The raw bytes of a dead letter split by `fit`, from its parts' (headers, value) in any
    order; raises ValueError when a part is missing or the bytes do not match their hash."""
    pieces: dict[int, str] = {}
    count = digest = None
    for headers, value in parts:
        index, _, total = headers[CHUNK_HEADER].decode().partition("/")
        count, digest = int(total), headers[CHUNK_SHA256_HEADER].decode()
        pieces[int(index)] = msgspec.json.decode(value, type=RejectedEvent).raw
    if count is None or sorted(pieces) != list(range(1, count + 1)):
        raise ValueError(f"parts {sorted(pieces)} of {count}: some are missing")
    data = "".join(pieces[i] for i in range(1, count + 1)).encode("latin-1")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("the joined raw bytes do not match their pms-chunk-sha256")
    return data
