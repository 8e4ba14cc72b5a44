"""Answering a reroute request inside the service: rules, store, answer -> output messages.

Called by the partition task for each `reroute_request` event, in the same transaction as the
input offset, so each request is answered exactly once. Outputs: every matching statement sent
again on the statements topic (marked `reroute_of`, header `pms-reroute-of`), the JSON
acknowledgement and the MQ block (A, B, QX, Y, Z as 80-character records) on the reroute-acks
topic, both keyed by the requesting filer. A QR outside an MO block names no filer to answer:
it goes to the rejects topic.

Flow: partition task -> **handler** (rules, store, answer) -> outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import msgspec

from pms_stream.reroute.answer import build_answer, rerouted
from pms_stream.reroute.rules import validate
from pms_stream.reroute.store import StatementStore
from pms_stream.statements.model import RejectedEvent, RerouteRequestEvent
from pms_stream.stream.outputs import Output, Sink, to_outputs

__all__ = ["RerouteHandler"]

_ENCODER = msgspec.json.Encoder()


class RerouteHandler:
    def __init__(self, store: StatementStore, today: Callable[[], date] = date.today) -> None:
        self.store = store
        self.today = today

    def __call__(
        self, request: RerouteRequestEvent, request_id: str, input_key: bytes | None
    ) -> list[Output]:
        filer = request.filer_code or request.batch_filer_code
        if filer is None:
            reject = RejectedEvent(
                kind="record",
                record_type="QR",
                raw=request.raw,
                source=request.source,
                reason="QR record outside an MO block: no B record names the filer and port "
                "to answer",
            )
            return to_outputs(reject, input_key, request_id)
        if request.position_in_block > 1:
            return []  # the block's first QR carries the one MS3 answer for all of them
        today = self.today()
        verdict = validate(request, today)
        found = self.store.find(verdict.criteria) if verdict.criteria is not None else []
        answer = build_answer(request, verdict, len(found), today, request_id)
        reroute = ("pms-reroute-of", request_id.encode())
        outputs = [
            Output(
                Sink.STATEMENTS,
                stored.key,
                rerouted(stored, request_id),
                (("pms-type", b"statement"), reroute),
            )
            for stored in found
        ]
        key = filer.encode()
        outputs.append(
            Output(
                Sink.REROUTE_ACKS,
                key,
                _ENCODER.encode(answer.ack),
                (("pms-type", b"reroute_ack"), reroute),
                answer.ack,
            )
        )
        outputs.append(
            Output(
                Sink.REROUTE_ACKS,
                key,
                answer.mq_block,
                (("pms-type", b"reroute_ack_records"), reroute),
            )
        )
        return outputs
