"""The peer a user might pick instead of pms-stream: a Quix Streams app making the same statements.

Run by bench/bench_pipeline.py as a child process (`python bench/peer_quix.py CONFIG_JSON`);
needs the optional `bench` extra (`pip install -e '.[bench]'`: quixstreams, which brings
confluent-kafka/librdkafka and RocksDB). Without it, `AVAILABLE` is False and `MISSING` says how
to install it: bench_pipeline.py then skips the peer rows with that note.

The design (issue 13): a stateful Quix app, exactly once (Quix's `processing_guarantee=
"exactly-once"`: one transactional producer, state changelog and offsets in its transactions),
tuned (`commit_interval` 0.2 s, `consumer_poll_timeout` 0.1 s; with Quix's defaults, 5 s and
1 s, it is slower). Per message key (the filer, as `pms-stream send` keys), its state keeps the
current A record and the raw records of the open block; at the Y record it feeds A and the block
to a fresh pms-stream `Assembler` and sends each statement it makes as the JSON line
`pms-stream parse` writes (only `source` differs: topic and partition instead of file and lines;
bench_pipeline.py checks the rest is identical). Rejects are counted, not sent.

Prints "ready" once its partitions are assigned, then runs until SIGTERM.
Flow: input topic -> (this app) -> a statements topic. Bench only: nothing in pms_stream uses it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds pms_stream
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AVAILABLE = importlib.util.find_spec("quixstreams") is not None
MISSING = (
    "peer rows skipped: quixstreams is not installed (the optional bench extra: "
    "`.venv/bin/pip install -e '.[bench]'`)"
)
COMMIT_INTERVAL_S = 0.2
POLL_TIMEOUT_S = 0.1


def build_statements(topic: str, partition: int, a: str | None, block: list[str]) -> list[bytes]:
    """The statements pms-stream's own Assembler makes of one block (after its A record)."""
    import msgspec

    from pms_stream.statements.assembler import Assembler
    from pms_stream.statements.model import RejectedEvent

    assembler = Assembler(topic=topic, partition=partition)
    out: list[bytes] = []
    for raw in ([a] if a is not None else []) + block:
        for event in assembler.feed(raw.encode("latin-1")):
            if not isinstance(event, RejectedEvent):
                out.append(msgspec.json.encode(event))
    return out


def run_child(cfg: dict[str, Any]) -> None:
    """The Quix app: input topic -> statements topic, until SIGTERM."""
    from quixstreams import Application, State, message_context

    class App(Application):  # type: ignore[misc,unused-ignore]
        def _on_assign(self, *args: Any, **kwargs: Any) -> None:  # the ready signal
            super()._on_assign(*args, **kwargs)
            print("ready", flush=True)

    app = App(
        broker_address=cfg["bootstrap"],
        consumer_group=cfg["group"],
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=COMMIT_INTERVAL_S,
        consumer_poll_timeout=POLL_TIMEOUT_S,
        state_dir=cfg["state_dir"],
        loglevel="WARNING",
    )
    source = app.topic(cfg["input"], value_deserializer="bytes", key_deserializer="bytes")
    target = app.topic(cfg["output"], value_serializer="bytes", key_serializer="bytes")
    topic = cfg["input"]

    def on_message(value: bytes, state: State[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        block: list[str] | None = state.get("block")
        for raw in value.split(b"\n"):
            kind = raw[:1]
            text = raw.decode("latin-1")
            if kind == b"A":
                state.set("a", text)
            elif kind == b"B":
                block = [text]
            elif kind == b"Z":
                state.delete("a")
            elif block is not None:
                block.append(text)
                if kind == b"Y":
                    partition = message_context().partition
                    out += build_statements(topic, partition, state.get("a"), block)
                    block = None
        if block is None:
            state.delete("block")
        else:
            state.set("block", block)
        return out

    sdf = app.dataframe(source)
    sdf = sdf.apply(on_message, stateful=True, expand=True)
    sdf.to_topic(target)
    app.run()


if __name__ == "__main__":
    run_child(json.loads(sys.argv[1]))
