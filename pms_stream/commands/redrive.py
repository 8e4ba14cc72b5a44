"""Send dead letters again: select rejected input from the rejects topic and send its raw bytes
back to the input topic (or write them to a file), once its cause is fixed (a limit raised, a
bug fixed).

Selection (all given filters must hold): --since/--until (when the dead letter was written,
ISO date or date-time, UTC unless it names a zone), --reason TEXT (in the reason, any case),
--source-topic, --source-partition, --offsets FIRST-LAST (overlapping the dead letter's source
offsets), --key (the input message's key).

What goes: each dead letter's raw bytes exactly as they arrived (`raw` is Latin-1 text, one
character per byte; an incomplete statement's records one per line), with the input message's
key (the rejects topic keeps it), so the records of one stream key go to one partition, in the
order they were rejected; unkeyed ones go to their source partition. Records of one input
message rejected one by one go together again as one message (lines); a statement rejected
whole is one message (its records may have come in several). Each message carries a header
`pms-redrive-of: <rejects topic>:<partition>:<offset>` per dead letter in it.

Dry run by default: one JSON line per selected dead letter (what would go, where, or why not);
--send sends them, --output FILE writes the bytes to FILE instead (records one per line).

Never twice: before sending, the target topic is read from the time of the oldest selected dead
letter on, and every dead letter whose coordinates appear in a `pms-redrive-of` header there is
left out ("already redriven"); --force sends it again. The input topic is the ledger: no other
state (a redriven message older than the input topic's retention is forgotten with it).

Not redrivable (listed, never sent): dead letters from a file (no Kafka source), a message
over the size limit or a tombstone (`raw` holds at most the first 4096 bytes), an output over
max_statement_bytes (its `raw` is the start of the JSON output, not input), a part of a dead
letter split in parts (header `pms-chunk`; not supported yet), and anything that is not a
`rejected` event.

exit status: 0 done (or nothing selected); 2 bad arguments or settings; 3 Kafka not reachable
within PMS_COMMAND_TIMEOUT_S (default 10 s); 4 no such topic; 5 authentication failed; 6 not
authorized; 1 other Kafka errors.

examples:
  pms-stream redrive --reason max_records_per_statement
  pms-stream redrive --source-partition 2 --offsets 1200-1300 --send
  pms-stream redrive --since 2026-11-20T08:00 --until 2026-11-20T09:00 --output dead.txt
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from pms_stream.errors import ConfigError
from pms_stream.service import config

NAME = "redrive"
HELP = "send dead letters from the rejects topic back to the input topic"
HEADER = "pms-redrive-of"
_ENCODER = msgspec.json.Encoder()
_TRUNCATED = 4096  # partition_task keeps at most this many bytes of a rejected message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pick = parser.add_argument_group("selection")
    pick.add_argument("--since", type=_when, metavar="TIME", help="written at or after TIME")
    pick.add_argument("--until", type=_when, metavar="TIME", help="written before TIME")
    pick.add_argument("--reason", metavar="TEXT", help="reason contains TEXT (any case)")
    pick.add_argument("--source-topic", metavar="TOPIC", help="rejected input from TOPIC")
    pick.add_argument("--source-partition", type=int, metavar="N", help="from partition N")
    pick.add_argument(
        "--offsets", type=_range, metavar="FIRST-LAST", help="source offsets overlapping these"
    )
    pick.add_argument("--key", help="input message key (text)")
    act = parser.add_mutually_exclusive_group()
    act.add_argument("--send", action="store_true", help="send them (default: a dry run)")
    act.add_argument("--output", metavar="FILE", help="write the raw bytes to FILE instead")
    parser.add_argument("--force", action="store_true", help="send already redriven ones again")
    parser.add_argument("--to-topic", metavar="TOPIC", help="target (default: the input topic)")
    config.add_arguments(parser)


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _range(text: str) -> tuple[int, int]:
    first, dash, last = text.partition("-")
    if not (first.isdigit() and (not dash or last.isdigit())):
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST offsets, got {text!r}")
    return int(first), int(last or first)


@dataclass(frozen=True)
class DeadLetter:
    """One message of the rejects topic, with what a redrive needs."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    event: dict[str, Any]
    coordinates: str  # "<rejects topic>:<partition>:<offset>"
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def source(self) -> dict[str, Any]:
        source = self.event.get("source")
        return source if isinstance(source, dict) else {}

    def problem(self) -> str | None:
        """Why this dead letter cannot be sent again, or None."""
        raw = self.event.get("raw")
        if self.event.get("type") != "rejected" or not isinstance(raw, str):
            return "not a rejected event with raw input"
        if "topic" not in self.source:
            return "no Kafka source (rejected offline)"
        if any(name == "pms-chunk" for name, _ in self.headers):
            # A dead letter too large for the rejects topic, split in parts (pms-chunk i/n):
            # one part's raw is a slice; sending it alone would send half a record.
            return "one part of a dead letter in parts (pms-chunk): not supported yet"
        if self.event.get("kind") == "message":
            return "a whole message (tombstone or over the size limit): raw holds at most its start"
        if raw.startswith("{"):
            return "an output over max_statement_bytes: raw is its JSON, not the input"
        return None

    def value(self) -> bytes:
        return str(self.event["raw"]).encode("latin-1")


def _selected(args: argparse.Namespace, letter: DeadLetter) -> bool:
    source = letter.source
    moment = datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC)
    reason = str(letter.event.get("reason", ""))
    checks = (
        args.since is None or moment >= args.since,
        args.until is None or moment < args.until,
        args.reason is None or args.reason.lower() in reason.lower(),
        args.source_topic is None or source.get("topic") == args.source_topic,
        args.source_partition is None or source.get("partition") == args.source_partition,
        args.key is None or letter.key == args.key.encode("latin-1"),
    )
    if not all(checks):
        return False
    if args.offsets is not None:
        first, last = args.offsets
        low, high = source.get("first_offset"), source.get("last_offset")
        if not isinstance(low, int) or not isinstance(high, int):
            return False
        return bool(low <= last and high >= first)
    return True


async def _read_to_end(
    consumer: Any, topic: str, partitions: set[int], start_ms: int | None = None
) -> list[Any]:
    """Every message of `topic` up to its end as of now (from `start_ms` on, when given)."""
    from aiokafka import TopicPartition  # noqa: PLC0415 - offline commands skip aiokafka

    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    ends: dict[Any, int] = await consumer.end_offsets(tps)
    if start_ms is None:
        await consumer.seek_to_beginning(*tps)
    else:
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, start_ms))
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
    messages: list[Any] = []
    while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
        batch = await consumer.getmany(timeout_ms=500)
        for tp, records in batch.items():
            messages.extend(m for m in records if m.offset < ends[tp])
    return messages


def _dead_letters(messages: list[Any], rejects: str) -> list[DeadLetter]:
    letters = []
    for m in messages:
        try:
            event = msgspec.json.decode(m.value or b"null")
        except msgspec.DecodeError:
            event = None
        letters.append(
            DeadLetter(
                m.partition,
                m.offset,
                m.timestamp,
                m.key,
                event if isinstance(event, dict) else {},
                f"{rejects}:{m.partition}:{m.offset}",
                tuple(m.headers or ()),
            )
        )
    letters.sort(key=lambda d: (d.partition, d.offset))
    return letters


def messages_of(letters: list[DeadLetter]) -> list[list[DeadLetter]]:
    """The messages to send: consecutive dead letters of one input message (same key, source
    topic, partition and single offset: the records of one message rejected one by one) go
    together, as they arrived; any other dead letter is a message of its own."""
    groups: list[list[DeadLetter]] = []
    for d in letters:
        s = d.source
        one = s.get("first_offset") == s.get("last_offset")
        if groups and one:
            last = groups[-1][-1]
            t = last.source
            if (
                last.key == d.key
                and t.get("first_offset") == t.get("last_offset")
                and all(t.get(k) == s.get(k) for k in ("topic", "partition", "first_offset"))
            ):
                groups[-1].append(d)
                continue
        groups.append([d])
    return groups


async def redrive(args: argparse.Namespace, settings: config.Settings) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: PLC0415

    from pms_stream.commands import kafka_access  # noqa: PLC0415

    rejects = settings.rejects_topic
    target = args.to_topic or settings.input_topic
    consumer = AIOKafkaConsumer(
        **config.kafka_client_options(settings, "consumer"),
        isolation_level="read_committed",
        enable_auto_commit=False,
        # assign() starts an offset reset of its own; were it "latest", it could land after
        # seek_to_beginning and skip everything.
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    async with kafka_access.connected(consumer, settings, topic=rejects):
        client = consumer._client
        cluster = await kafka_access.require_topic(client, settings, rejects)
        messages = await _read_to_end(consumer, rejects, cluster.partitions_for_topic(rejects))
        letters = [d for d in _dead_letters(messages, rejects) if _selected(args, d)]
        done: set[str] = set()
        if letters and args.output is None:
            cluster = await kafka_access.require_topic(client, settings, target)
            oldest = min(d.timestamp_ms for d in letters)
            partitions = cluster.partitions_for_topic(target)
            for m in await _read_to_end(consumer, target, partitions, oldest):
                done.update(v.decode() for k, v in m.headers or () if k == HEADER)
    plan = []
    for d in letters:
        problem = d.problem()
        if problem is None and d.coordinates in done and not args.force:
            problem = "already redriven"
        plan.append((d, problem))
    if args.output is not None:
        try:
            with open(args.output, "wb") as file:
                for d, problem in plan:
                    if problem is None:
                        file.write(d.value() + b"\n")
        except OSError as exc:
            raise kafka_access.KafkaCommandError(
                f"cannot write {args.output}: {exc.strerror or exc}", 2
            ) from None
    elif args.send:
        producer = AIOKafkaProducer(
            **config.kafka_client_options(settings, "producer"),
            enable_idempotence=True,
            acks="all",
            max_request_size=settings.max_message_bytes * 2,
        )
        async with kafka_access.connected(producer, settings, topic=target):
            for group in messages_of([d for d, problem in plan if problem is None]):
                first = group[0]
                partition = None if first.key is not None else first.source.get("partition")
                await kafka_access.bounded(
                    producer.send_and_wait(
                        target,
                        b"\n".join(d.value() for d in group),
                        key=first.key,
                        partition=partition,
                        headers=[(HEADER, d.coordinates.encode()) for d in group],
                    ),
                    settings,
                    "sending",
                )
    verb = "sent" if args.send else ("written" if args.output else "would send")
    out = sys.stdout.buffer
    for d, problem in plan:
        out.write(
            _ENCODER.encode(
                {
                    "dead_letter": d.coordinates,
                    "status": problem or verb,
                    "to": args.output or target,
                    "key": None if d.key is None else d.key.decode("latin-1"),
                    "kind": d.event.get("kind"),
                    "reason": d.event.get("reason"),
                    "source": d.source,
                    "records": d.event.get("record_count"),
                    "bytes": len(d.value()) if problem is None else None,
                }
            )
            + b"\n"
        )
    out.flush()
    going = sum(1 for _, p in plan if p is None)
    sys.stderr.write(
        f"pms-stream redrive: {len(plan)} dead letters selected, {going} {verb}"
        + ("" if args.send or args.output else " (dry run: --send to send)")
        + "\n"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream redrive: {exc}\n")
        return 2
    from pms_stream.commands import kafka_access  # noqa: PLC0415 - offline commands skip aiokafka

    return kafka_access.run_command(NAME, redrive(args, settings))
