"""One input partition's work: assemblers per stream key, checkpoints, replay after a crash.

Exactly once by *replay from the low-water mark* (design notes, option 2). In each transaction
the service commits, for this partition, a `Checkpoint`:
- `offset` — the first message of the oldest open state of any stream key (or the next offset
  when nothing is open): everything before it is finished and never read again;
- metadata `n` — "emitted through": every output of every message before offset `n` is already
  in the output topics;
- the offsets where the open states of stream keys opened (no key: the message at an opening
  offset names its key itself, so the metadata holds offsets only, a few characters per key).
After a crash or a rebalance the new owner seeks to `offset` and replays: a message before `n`
is fed to its stream key's assembler only if that key was open at the checkpoint (its opening
message was met at one of the opening offsets) and the message is at or after the key's opening
offset, and its outputs are dropped (they were published);
from `n` on, processing is normal. The assembler is deterministic, so the rebuilt state is the
state that was lost. No changelog topic is needed, and restore reads only the open states'
messages. See docs/exactly-once.md.

A stream key is (partition, message key): records of one transmission arrive in order on one
partition with one key. Idle stream keys are flushed after the idle timeout (complete bare
statements are emitted, anything else open is rejected with its raw records).

Per message: its records are cut once (`message_records.whole_records`, or `frame_message` when
framing has something to reject). An MS block (B ... Y) from a B that finds nothing open but a
transmission is held by its stream key, across messages, while the assembler would take its
records quietly (stream/held_blocks.py); at its Y `fastblock.statement_line` writes the
statement's JSON line or declines, and then the assembler takes the held records, each with its
own message's offset, as always (docs/performance.md, "The fast path in the partition task").
A key holding a block has open state exactly when the assembler alone would, so checkpoints and
replay do not depend on the fast path.

Pure: no asyncio, no aiokafka. Flow: consumer -> **partition task** (framing -> fast block |
assembler) -> outputs -> transactional producer.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec

from pms_stream.framing import frame_message
from pms_stream.statements import fastblock
from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import (
    Event,
    RejectedEvent,
    RerouteRequestEvent,
    Source,
    Statement,
)
from pms_stream.statements.stats import RecordStats
from pms_stream.stream.held_blocks import HeldBlock
from pms_stream.stream.message_records import whole_records
from pms_stream.stream.outputs import Output, to_outputs

__all__ = [
    "OFFSET_METADATA_MAX",
    "Checkpoint",
    "InputMessage",
    "Limits",
    "PartitionTask",
    "RequestHandler",
    "key_hash",
    "max_open_keys_for",
    "metadata_bound",
]

# Answers a reroute request: (request, request id, input key) -> outputs.
RequestHandler = Callable[[RerouteRequestEvent, str, bytes | None], list[Output]]


@dataclass(frozen=True, slots=True)
class InputMessage:
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits: excess becomes rejects, never memory exhaustion."""

    idle_timeout_s: float = 300.0
    max_message_bytes: int = 1_048_576
    max_open_keys: int = 100  # stream keys with open state per partition (max_open_keys_for())
    max_records_per_statement: int = 100_000  # an open statement past this is rejected whole


class _MetadataV1(msgspec.Struct, frozen=True):
    """The first encoding (JSON with key hashes, ~30 bytes a key): still read after an upgrade."""

    v: int
    n: int
    k: dict[str, int] = {}


_META_V1_DECODER = msgspec.json.Decoder(_MetadataV1)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

# Kafka's `offset.metadata.max.bytes` (4096 by default, a broker setting): a commit with longer
# metadata fails with OffsetMetadataTooLargeError.
OFFSET_METADATA_MAX = 4096
_MAX_OFFSET = 2**63 - 1


def _b36(value: int) -> str:
    if value < 0:
        raise ValueError(f"negative offset distance {value}")
    digits = ""
    while True:
        value, rest = divmod(value, 36)
        digits = _DIGITS[rest] + digits
        if not value:
            return digits


def metadata_bound(open_keys: int) -> int:
    """The longest metadata `Checkpoint.metadata` can write with `open_keys` open stream keys,
    whatever the offsets (any int64): "2:" + n + ":" + one base-36 distance per key.

    The distances between sorted opening offsets add up to less than 2**63, and a base-36 number
    d has at most log36(d) + 1 digits, so by the concavity of log the digits of k distances are
    at most k * (log36(2**63 / k) + 1).
    """
    head = 2 + len(_b36(_MAX_OFFSET)) + 1  # "2:" n ":"
    if open_keys <= 0:
        return head
    rest = open_keys - 1  # the first opening offset is the checkpoint's own: distance "0"
    digits = 1
    if rest:
        digits += math.floor(rest * (math.log(_MAX_OFFSET / rest, 36) + 1))
    return head + digits + rest  # commas


def max_open_keys_for(metadata_max: int = OFFSET_METADATA_MAX) -> int:
    """The largest `max_open_keys` whose checkpoint metadata always fits in `metadata_max`."""
    keys = 0
    while metadata_bound(keys + 1) <= metadata_max:
        keys += 1
    return keys


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What is committed for a partition: the offset to resume from and the replay metadata.

    Metadata (version 2): `2:<n - offset>:<d1>,<d2>,...`, base-36 numbers; the opening offsets
    are `offset + d1`, then each the previous plus the next distance. 300 open keys fit in
    Kafka's 4096 bytes whatever the offsets (`metadata_bound`)."""

    offset: int
    emitted_through: int
    opened_at: tuple[int, ...] = ()  # opening offsets of the open stream keys, ascending

    def metadata(self) -> str:
        distances: list[str] = []
        previous = self.offset
        for opened in sorted(self.opened_at):
            distances.append(_b36(opened - previous))
            previous = opened
        return f"2:{_b36(self.emitted_through - self.offset)}:{','.join(distances)}"

    @classmethod
    def from_committed(cls, offset: int, metadata: str) -> Checkpoint:
        """The checkpoint of a committed offset; plain offsets (no metadata) resume as such."""
        if metadata.startswith("2:"):
            try:
                _, n, rest = metadata.split(":", 2)
                opened: list[int] = []
                previous = offset
                for distance in rest.split(",") if rest else []:
                    previous += int(distance, 36)
                    opened.append(previous)
                return cls(offset, offset + int(n, 36), tuple(opened))
            except ValueError:
                return cls(offset, offset)
        if not metadata:
            return cls(offset, offset)
        try:
            meta = _META_V1_DECODER.decode(metadata)
        except msgspec.DecodeError:
            return cls(offset, offset)
        return cls(offset, max(meta.n, offset), tuple(sorted(set(meta.k.values()))))


def key_hash(key: bytes | None) -> str:
    """A short stable name for a message key, safe to store and log (no key content)."""
    if key is None:
        return "-"
    return hashlib.blake2b(key, digest_size=8).hexdigest()


_B, _Q, _Y = b"BQY"  # first bytes of the records the fast path looks at
_STATEMENT: Final = msgspec.json.Decoder(Statement)

# Hashed only to order stream keys of equal activity when too many are open (as before).
_key_hash = functools.lru_cache(maxsize=4096)(key_hash)


@dataclass
class _Stream:
    assembler: Assembler
    key: bytes | None
    open_since: int | None = None
    last_active: float = 0.0
    held: HeldBlock | None = None  # an MS block the fast path holds (the assembler has none)


class PartitionTask:
    """Processes one input partition. The runner feeds messages in offset order."""

    def __init__(
        self,
        topic: str,
        partition: int,
        *,
        checkpoint: Checkpoint | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        requests: RequestHandler | None = None,
        key_secret: bytes | None = None,
        fast: bool = True,
        hold_single: bool = False,
    ) -> None:
        self.topic = topic
        self._fast = fast  # MS blocks through the fast path (False: the assembler alone)
        self._hold_single = hold_single  # held from one-record messages too (docs/performance.md)
        self._key_secret = key_secret  # outputs.statement_key: SSN-shaped importers keyed by HMAC
        self._requests = requests
        self.partition = partition
        self.limits = limits or Limits()
        self._clock = clock
        self._wall_clock = wall_clock
        self._streams: dict[bytes | None, _Stream] = {}  # by message key
        self._replay = (
            checkpoint if checkpoint and checkpoint.emitted_through > checkpoint.offset else None
        )
        self._next = checkpoint.offset if checkpoint else None
        # while replaying: the opening offsets not met yet, and the keys met at one of them
        self._replay_opens = set(self._replay.opened_at) if self._replay else set()
        self._replay_starts: dict[bytes | None, int] = {}
        self._stats: dict[tuple[str, str], int] = {}  # records seen, handed over by take_stats
        self._spare: Assembler | None = None  # of a stream key closed since: no state
        self._fast_counts: Counter[bytes] = Counter()  # records of fast blocks, by 2 bytes

    # ---- state ------------------------------------------------------------------------------

    @property
    def restoring(self) -> bool:
        """True while replaying messages whose outputs were already published."""
        return self._replay is not None

    @property
    def open_streams(self) -> int:
        return sum(1 for s in self._streams.values() if s.open_since is not None)

    @property
    def next_offset(self) -> int | None:
        return self._next

    def caught_up(self, position: int) -> None:
        """The consumer's position is `position`: replay ends once it passes `n`."""
        if self._replay is not None and position >= self._replay.emitted_through:
            self._replay = None

    def checkpoint(self) -> Checkpoint | None:
        """The checkpoint to commit now, or None while replaying (the old one still holds)."""
        if self._replay is not None or self._next is None:
            return None
        opens = sorted(s.open_since for s in self._streams.values() if s.open_since is not None)
        offset = min([self._next, *opens])
        return Checkpoint(offset, self._next, tuple(opens))

    # ---- input ------------------------------------------------------------------------------

    def process(self, msg: InputMessage) -> list[Output]:
        """Feed one message; returns the outputs to publish (none while replaying)."""
        offset, key = msg.offset, msg.key
        replay = self._replay
        suppress = False
        if replay is None:
            if self._next is not None and offset < self._next:
                return []  # already processed (a re-delivery after a seek)
        elif offset < replay.emitted_through:
            if offset in self._replay_opens:  # this key was open, since this message
                self._replay_starts[key] = offset
            start = self._replay_starts.get(key)
            if start is None or offset < start:
                self._advance(offset)
                return []
            suppress = True
        else:
            self._replay = None
        stream = self._streams.get(key)
        if stream is None:
            stream = _Stream(self._assembler(), key)
            self._streams[key] = stream
        events = self._feed(stream, msg)
        if stream.held is not None or stream.assembler.has_open_state:
            if stream.open_since is None:
                stream.open_since = offset
        else:
            stream.open_since = None
        stream.last_active = self._clock()
        self._advance(offset)
        if suppress:
            return []
        outputs = self._outputs(events, key, offset) if events else []
        if len(self._streams) > self.limits.max_open_keys:
            outputs += self._enforce_open_limit()
        if stream.open_since is None:
            del self._streams[key]
            if self._spare is None:  # no state left: the next new stream key takes it
                self._spare = stream.assembler
            else:
                self._collect_stats(stream.assembler)
        return outputs

    def _assembler(self) -> Assembler:
        """An assembler without state: the spare one left by a closed stream key, or a new one.
        (Its record counts stay in it until `take_stats`.)"""
        spare, self._spare = self._spare, None
        if spare is not None:
            return spare
        return Assembler(
            topic=self.topic,
            partition=self.partition,
            max_records=self.limits.max_records_per_statement,
        )

    def _advance(self, offset: int) -> None:
        self._next = offset + 1
        if self._replay is not None and self._next >= self._replay.emitted_through:
            self._replay = None

    def _feed(self, stream: _Stream, msg: InputMessage) -> Sequence[Event | bytes]:
        value = msg.value
        if value is None:
            return [self._message_reject(msg, "message has no value (a tombstone)")]
        if len(value) > self.limits.max_message_bytes:
            return [
                self._message_reject(
                    msg,
                    f"message of {len(value)} bytes is over the limit of "
                    f"{self.limits.max_message_bytes} bytes",
                )
            ]
        assembler = stream.assembler
        # one origin per message: in a Kafka stream a record is named by its message's offset
        origin = Origin(offset=msg.offset)
        records = whole_records(value)
        if records is not None:
            if self._fast and (len(records) > 1 or self._hold_single or stream.held is not None):
                return self._feed_blocks(stream, records, origin)
            if len(records) == 1:  # the usual message: one record, no list to join
                return assembler.feed(records[0], origin)
            events: list[Event | bytes] = []
            for raw in records:
                done = assembler.feed(raw, origin)
                if done:
                    events += done
            return events
        events = []
        if stream.held is not None:  # the held block goes on in a message framing rejects
            events += self._hand_over(stream)
        for piece in frame_message(value):  # a framing problem: the framer says which
            if piece.problem is None:
                events += assembler.feed(piece.raw, origin)
            else:
                events += assembler.feed_fragment(piece.raw, origin, piece.problem)
        return events

    def _feed_blocks(
        self, stream: _Stream, records: list[bytes], origin: Origin
    ) -> list[Event | bytes]:
        """The records of one message through the fast path: an MS block from a B that opens
        nothing else is held, in this message and the next ones; at a message's end the held
        records must be ones the assembler would take quietly (`HeldBlock.quiet`), or they go
        to it then. At its Y, `fastblock.statement_line` (a block within one message: its
        expression checks the records) or `matched_statement_line` (a block checked record by
        record) writes the statement's JSON line (bytes, standing for the `Statement` the
        assembler would have made; the assembler is left as the block would have left it:
        nothing open). Anything else goes to the assembler, the held records first
        (`_hand_over`), each with its own message's offset."""
        out: list[Event | bytes] = []
        assembler = stream.assembler
        held = stream.held
        offset = origin.offset
        assert offset is not None
        limit = self.limits.max_records_per_statement  # a longer block is rejected whole
        for raw in records:
            if held is not None:
                kind = raw[0]
                if kind == _Y:
                    held.hold(raw, offset)
                    source = Source(
                        topic=self.topic,
                        partition=self.partition,
                        first_offset=held.offsets[0],  # the B's message, as the assembler says
                        last_offset=offset,
                    )
                    day = assembler.process_date
                    line = None
                    if not held.checked:  # begun in this message: its expression checks it
                        line = fastblock.statement_line(held.raws, source, day)
                    elif held.quiet():  # begun before: checked record by record
                        line = fastblock.matched_statement_line(held.raws, source, day)
                    if line is not None:
                        out.append(line)
                        self._fast_counts.update([r[:2] for r in held.raws[held.counted :]])
                        stream.held = held = None
                    else:
                        out += self._hand_over(stream)
                        held = None
                    continue
                if kind == _Q and len(held.raws) < limit:
                    held.hold(raw, offset)
                    continue
                out += self._hand_over(stream)
                held = None
            elif raw[0] == _B and not assembler.open_statement:
                held = stream.held = HeldBlock(raw, offset)
                continue
            done = assembler.feed(raw, origin)
            if done:
                out += done
        if held is not None and not held.quiet():  # the assembler would have spoken by now
            out += self._hand_over(stream)
        return out

    def _hand_over(self, stream: _Stream) -> list[Event]:
        """The held records to the assembler, each with its own message's offset: it then holds
        what it would hold had it been fed them all along. Records counted already (by
        `take_stats`) are not counted again."""
        held, stream.held = stream.held, None
        if held is None:
            return []
        assembler = stream.assembler
        if held.counted:
            self._collect_stats(assembler)
        out: list[Event] = []
        origin = Origin(offset=held.offsets[0])
        for raw, offset in zip(held.raws, held.offsets, strict=True):
            if offset != origin.offset:
                origin = Origin(offset=offset)
            done = assembler.feed(raw, origin)
            if done:
                out += done
        if held.counted:
            stats = dict(assembler.take_stats())
            for raw in held.raws[: held.counted]:
                tag = raw[:1] if raw[:1] == b"B" else raw[:2]
                key = (tag.decode(), "accepted")  # quiet records: the assembler accepted them
                stats[key] = stats.get(key, 0) - 1
            for key, count in stats.items():
                if count > 0:
                    self._stats[key] = self._stats.get(key, 0) + count
        return out

    def skip(self, first: int, last: int, reason: str, raw: bytes) -> list[Output]:
        """Messages `first`..`last` cannot be read (an undecodable record batch): one dead letter
        with their coordinates, reason and raw bytes, and the partition moves past them. While
        replaying a batch skipped before the checkpoint, nothing is output (it was published)."""
        replayed = self._replay is not None and last < self._replay.emitted_through
        if self._next is not None and last < self._next:
            return []  # already skipped
        self._advance(last)
        if replayed:
            return []
        event = RejectedEvent(
            kind="message",
            reason=f"record batch at offsets {first}-{last} could not be decoded ({reason}); "
            "raw holds the batch as stored by Kafka",
            raw=raw.decode("latin-1"),
            record_count=0,
            source=Source(
                topic=self.topic, partition=self.partition, first_offset=first, last_offset=last
            ),
            time=self._wall_clock(),
        )
        return to_outputs(event, None, f"{self.topic}:{self.partition}:{first}")

    def _message_reject(self, msg: InputMessage, reason: str) -> RejectedEvent:
        value = msg.value or b""
        return RejectedEvent(
            kind="message",
            reason=reason,
            raw=value.decode("latin-1"),  # whole: `outputs.fit` splits it if too large
            record_count=0,
            source=Source(
                topic=self.topic,
                partition=self.partition,
                first_offset=msg.offset,
                last_offset=msg.offset,
            ),
        )

    def expire(self) -> list[Output]:
        """Flush stream keys idle longer than the idle timeout (not while replaying)."""
        if self._replay is not None:
            return []
        now = self._clock()
        outputs: list[Output] = []
        for key, stream in list(self._streams.items()):
            if (
                stream.open_since is not None
                and now - stream.last_active >= self.limits.idle_timeout_s
            ):
                outputs += self._flush(key, stream, "idle timeout")
        return outputs

    def flush_all(self) -> list[Output]:
        """Flush every stream key (offline use and tests; the service never flushes on stop)."""
        outputs: list[Output] = []
        for key, stream in list(self._streams.items()):
            outputs += self._flush(key, stream, "flush")
        return outputs

    def _flush(self, key: bytes | None, stream: _Stream, why: str) -> list[Output]:
        events = [*self._hand_over(stream), *stream.assembler.flush()]
        self._collect_stats(stream.assembler)
        del self._streams[key]
        offset = stream.open_since if stream.open_since is not None else (self._next or 0)
        return self._outputs(events, stream.key, offset, why)

    def _enforce_open_limit(self) -> list[Output]:
        """Flush the least recently active stream keys past `max_open_keys` (called only when
        there are more stream keys than that: no sort per message)."""
        opened = [
            (s.last_active, _key_hash(key), key)
            for key, s in self._streams.items()
            if s.open_since is not None
        ]
        outputs: list[Output] = []
        excess = len(opened) - self.limits.max_open_keys
        for _, _, key in sorted(opened, key=lambda o: o[:2])[: max(excess, 0)]:
            outputs += self._flush(key, self._streams[key], "too many open stream keys")
        return outputs

    def _collect_stats(self, assembler: Assembler) -> None:
        for key, count in assembler.take_stats().items():
            self._stats[key] = self._stats.get(key, 0) + count

    def take_stats(self) -> RecordStats:
        """The records its assemblers saw since the last call, by (record type, outcome).
        (Assemblers keep their counts until here: nothing is added up per message.)"""
        for stream in self._streams.values():
            self._collect_stats(stream.assembler)
            held = stream.held
            if held is not None:  # counted as the assembler would have counted them by now
                self._fast_counts.update([r[:2] for r in held.raws[held.counted :]])
                held.counted = len(held.raws)
        if self._spare is not None:
            self._collect_stats(self._spare)
        for start, count in self._fast_counts.items():
            tag = start[:1] if start[:1] in (b"B", b"Y") else start  # Q1 ... Q7, QA, QE, QJ
            key = (tag.decode(), "accepted")
            self._stats[key] = self._stats.get(key, 0) + count
        self._fast_counts.clear()
        stats, self._stats = RecordStats(self._stats), {}
        return stats

    def _outputs(
        self,
        events: Sequence[Event | bytes],
        key: bytes | None,
        offset: int,
        why: str | None = None,
    ) -> list[Output]:
        outputs: list[Output] = []
        source = f"{self.topic}:{self.partition}:{offset}"
        for index, event in enumerate(events):
            if isinstance(event, bytes):  # a statement's JSON line, by the fast path
                statement = _STATEMENT.decode(event)  # what metrics, stores and summary read
                outputs += to_outputs(statement, key, source, self._key_secret, event[:-1])
                continue
            if isinstance(event, RerouteRequestEvent) and self._requests is not None:
                outputs += self._requests(event, f"{source}:{index}", key)
                continue
            out: Event = event
            if isinstance(event, RejectedEvent):
                reason = event.reason
                if why:
                    reason = f"{reason} ({why})"
                out = msgspec.structs.replace(event, time=self._wall_clock(), reason=reason)
            outputs += to_outputs(out, key, source, self._key_secret)
        return outputs
