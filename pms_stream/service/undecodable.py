"""Undecodable record batches: which one, where, and its bytes.

aiokafka raises while it decodes a fetched batch (a corrupt CRC, a payload its codec cannot
decompress, a codec it does not know) and says neither the partition nor the offsets. The
consumer loop then asks this module: `locate` fetches the partition's raw bytes from its leader
from a given offset on (one Fetch request, no decoding by the consumer), walks the record
batches by their headers, decodes each as aiokafka would, and returns the first one that fails,
with its offsets, the reason and its raw bytes. The runner dead-letters it (the partition task's
`skip`) and moves the partition past it.

Batches of aborted transactions and control batches are passed over as a `read_committed`
consumer does (aiokafka never decodes them either).

Flow: consumer (decode error) -> **undecodable.locate** -> partition task `skip` -> producer.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaError, UnsupportedCodecError
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.control_record import ABORT_MARKER, ControlRecord
from aiokafka.record.memory_records import MemoryRecords

__all__ = [
    "Undecodable",
    "find_from",
    "first_undecodable",
    "locate",
    "maybe_undecodable",
    "read_up_to",
]

_FRAME = struct.Struct(">qi")  # a batch (or legacy message): base offset, length of the rest
_READ_COMMITTED = 1


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A record batch that cannot be decoded: its first and last offset, why, its bytes."""

    first_offset: int
    last_offset: int
    reason: str
    raw: bytes


def maybe_undecodable(exc: Exception) -> bool:
    """Whether a `getmany` error may come from decoding a fetched batch (a codec's own error, a
    corrupt CRC, an unknown codec); the runner then looks for the batch (`locate`), or
    re-raises."""
    if isinstance(exc, UnsupportedCodecError | CorruptRecordException):
        return True
    return not isinstance(exc, KafkaError)


def _decode(batch: Any) -> None:
    """Decode every record of `batch` as aiokafka's fetcher does (raises when it cannot)."""
    if not batch.validate_crc():
        raise ValueError("the batch's CRC does not match its bytes (corrupt)")
    for record in batch:
        _ = record.key, record.value, record.headers


def first_undecodable(
    data: bytes, start: int, aborted: list[tuple[int, int]] | None
) -> Undecodable | None:
    """The first batch of a fetched message set `data` whose records cannot be decoded, among
    the batches that end at or after offset `start`; None when every whole batch decodes.
    `aborted` is the Fetch response's aborted transactions ((producer id, first offset)), for
    `read_committed`: batches of an aborted transaction are passed over, as the consumer does."""
    pending = sorted(aborted or [], key=lambda entry: entry[1])
    aborting: set[int] = set()
    pos = 0
    while pos + _FRAME.size <= len(data):
        _, length = _FRAME.unpack_from(data, pos)
        end = pos + _FRAME.size + length
        if length <= 0 or end > len(data):
            return None  # the fetch cut the last batch short: not judged
        raw = data[pos:end]
        pos = end
        try:
            batch = MemoryRecords(raw).next_batch()
        except Exception as exc:  # a header aiokafka cannot even read
            base, _ = _FRAME.unpack_from(raw, 0)
            return Undecodable(base, base, f"unreadable batch header ({exc!r})", raw)
        if batch is None:
            return None
        first, last = batch.base_offset, batch.next_offset - 1
        if last < start:
            continue
        producer = getattr(batch, "producer_id", None)
        if producer is not None:
            while pending and pending[0][1] <= first:
                aborting.add(pending.pop(0)[0])
            if batch.is_control_batch:
                try:
                    marker = next(iter(batch))
                    if ControlRecord.parse(marker.key) == ABORT_MARKER:
                        aborting.discard(producer)
                except Exception:  # noqa: S112 - a broken marker is not a data batch
                    continue
                continue
            if batch.is_transactional and producer in aborting:
                continue
        try:
            _decode(batch)
        except Exception as exc:  # any failure to decode is the verdict
            codec = _CODECS.get(getattr(batch, "compression_type", 0), "unknown codec")
            return Undecodable(first, last, f"{codec}: {exc!r}", raw)
    return None


_CODECS = {0: "uncompressed", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _end_of_whole_batches(data: bytes) -> int | None:
    """The offset after the last whole batch of `data` (None when there is none)."""
    pos, end = 0, None
    while pos + _FRAME.size <= len(data):
        _, length = _FRAME.unpack_from(data, pos)
        if length <= 0 or pos + _FRAME.size + length > len(data):
            break
        batch = MemoryRecords(data[pos : pos + _FRAME.size + length]).next_batch()
        if batch is not None:
            end = batch.next_offset
        pos += _FRAME.size + length
    return end


async def locate(
    client: Any, tp: Any, offset: int, max_bytes: int, *, fetches: int = 3
) -> Undecodable | None:
    """Fetch partition `tp` from `offset` (at most `max_bytes` a fetch, as the consumer does)
    from its leader through aiokafka's `client` and return its first undecodable batch, if any,
    within `fetches` fetches (the consumer's own fetch may have begun a little later)."""
    for _ in range(fetches):
        fetched = await _fetch(client, tp, offset, max_bytes)
        if fetched is None:
            return None
        data, aborted = fetched
        found = first_undecodable(data, offset, aborted)
        if found is not None:
            return found
        after = _end_of_whole_batches(data)
        if after is None or after <= offset:
            return None
        offset = after
    return None


async def _fetch(
    client: Any, tp: Any, offset: int, max_bytes: int
) -> tuple[bytes, list[tuple[int, int]] | None] | None:
    leader = client.cluster.leader_for_partition(tp)
    if leader is None or leader < 0:
        return None
    request = FetchRequest(
        0, 1, max_bytes, _READ_COMMITTED, [(tp.topic, [(tp.partition, offset, max_bytes)])]
    )
    response = await client.send(leader, request)
    for _topic, partitions in response.topics:
        for partition, error_code, _highwater, *rest in partitions:
            if partition != tp.partition or error_code != 0:
                continue
            # after the high watermark: v4 (lso, aborted, records); v5-v10 (lso, log start,
            # aborted, records); v11+ (lso, log start, aborted, preferred replica, records)
            version = response.API_VERSION
            aborted = rest[2] if version >= 5 else rest[1] if version == 4 else None
            return bytes(rest[-1] or b""), aborted
    return None


async def read_up_to(
    consumer: AIOKafkaConsumer, tp: TopicPartition, bad: Undecodable, timeout_s: float
) -> list[Any]:
    """The messages of `tp` before the undecodable batch `bad`, read one at a time (aiokafka
    then keeps its position at each) until it fails on `bad` again, within `timeout_s`."""
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await consumer.position(tp) >= bad.first_offset:
            break
        try:
            got = await consumer.getmany(tp, timeout_ms=200, max_records=1)
        except Exception as exc:
            if maybe_undecodable(exc):
                break
            raise
        messages += [m for m in got.get(tp, []) if m.offset < bad.first_offset]
    return messages


async def find_from(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    start: int | None,
    fetch_bytes: int,
    timeout_s: float,
) -> tuple[Undecodable | None, list[Any]]:
    """Put the partition back at `start` (its first offset when None) and look for an
    undecodable batch from there: the batch, or None, and the messages before it, decoded."""
    if start is None:
        await consumer.seek_to_beginning(tp)
        start = await consumer.position(tp)
    else:
        consumer.seek(tp, start)
    bad = await asyncio.wait_for(locate(consumer._client, tp, start, fetch_bytes), timeout_s)
    if bad is None:
        return None, []
    return bad, await read_up_to(consumer, tp, bad, timeout_s * 3)
