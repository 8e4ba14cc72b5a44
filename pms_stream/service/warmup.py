"""Warm-up before the service consumes: the first statement must not pay for lazy start-up work.

The first statement a fresh process builds costs about 0.35 s more than the next ones (measured
2026-12-01): the federal holiday calendar's country module (`holidays`, loaded on first use by the
payment calendar checks), the codec's generated parsers, msgspec's encoders and the checks are
all set up on first use. In the service that cost lands on the first batch and shows in every
statement of it as end-to-end latency (docs/performance.md). `warm_up` runs one generated
statement of each status through a throwaway `PartitionTask` (and its outputs), once, before the
service connects to Kafka: nothing is published, nothing is kept.

Flow: **warm-up** (once, at start) -> service.
"""

from __future__ import annotations

import time

from pms_stream.generator import GenerateOptions, generate
from pms_stream.stream.partition_task import InputMessage, PartitionTask

__all__ = ["warm_up"]


def warm_up() -> float:
    """Build a few generated statements (preliminary and final) offline; returns the seconds."""
    started = time.perf_counter()
    records = generate(GenerateOptions(statements=2, seed=1, finals=1.0)).records
    task = PartitionTask("pms-stream-warm-up", 0)
    for offset, record in enumerate(records):
        task.process(InputMessage(offset, b"warm-up", record))
    task.flush_all()
    task.take_stats()
    return time.perf_counter() - started
