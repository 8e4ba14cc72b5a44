"""The metrics topic's summaries (contract 2, pure): the summaries of a transaction's
statements folded into `statement_summaries` messages, one per filer code, split to fit the
topic's limit, every summary kept exactly as the per-statement message of contract 1."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from pms_stream.domain.importer_numbers import redact
from pms_stream.domain.money import money_text
from pms_stream.generator import GenerateOptions, generate
from pms_stream.statements.metrics_events import StatementSummaries
from pms_stream.statements.model import Check, Statement, Totals
from pms_stream.stream.outputs import (
    Output,
    Sink,
    published_statement,
    record_size,
    statement_summary,
    summary_outputs,
    with_summaries,
)
from tests.service.test_partition_task import messages, task

AMOUNTS = ("duty", "tax", "add", "cvd", "amount_due")


def published(keys: list[bytes | None]) -> list[Output]:
    t = task()
    return [o for m in messages(keys, 5) for o in t.process(m)] + t.flush_all()


def statements(outputs: list[Output]) -> list[Statement]:
    return [o.event for o in outputs if isinstance(o.event, Statement)]


def contract_1(statement: Statement) -> dict[str, Any]:
    """The summary as contract 1 built it (a dict, amounts formatted from the Decimals)."""

    def totals(t: Totals | None) -> dict[str, Any] | None:
        if t is None:
            return None
        amounts = {name: money_text(getattr(t, name)) for name in AMOUNTS}
        return {**amounts, "fees": {f.code: money_text(f.amount) for f in t.fees}}

    return {
        "type": "statement_summary",
        "statement_number": statement.statement_number,
        "status": statement.status,
        "filer_code": statement.filer_code,
        "importer_number": redact(statement.importer_number),
        "payment_type": statement.payment_type,
        "district_port": statement.district_port,
        "daily_statements": len(statement.daily_statements),
        "deleted_entries": len(statement.deleted_entries),
        "preliminary_totals": totals(statement.preliminary_totals),
        "final_totals": totals(statement.final_totals),
        "difference": totals(statement.difference),
        "checks": sorted({c.code for c in statement.checks}),
    }


def test_each_summary_is_contract_1s_byte_for_byte() -> None:
    sts = generate(GenerateOptions(statements=300, seed=4, deletions=0.5)).statements()
    sts += statements(published([b"a"]))  # differences
    check = Check(code="Q5-TOTALS", severity="error", message="x")
    sts += [
        msgspec.structs.replace(sts[0], importer_number="123-45-6789"),  # redacted
        msgspec.structs.replace(sts[1], importer_number="123456789", checks=[check, check]),
    ]
    assert any(s.deleted_entries for s in sts)
    assert any(s.difference for s in sts)
    for s in sts:
        assert statement_summary(s) == msgspec.json.encode(contract_1(s))


def test_a_statement_brings_no_summary_message_of_its_own() -> None:
    outs = published([b"a", b"b"])
    assert {o.sink for o in outs} == {Sink.STATEMENTS}


def test_a_transactions_summaries_are_one_message_per_filer_in_publication_order() -> None:
    outs = published([b"a", b"b", b"c"])
    folded = with_summaries(outs, {})
    assert folded[: len(outs)] == outs  # the statements first, unchanged
    (message,) = folded[len(outs) :]
    assert message.sink is Sink.METRICS
    assert message.key == b"B76"
    assert dict(message.headers) == {"pms-type": b"statement_summaries"}
    doc = json.loads(message.value)
    msgspec.convert(doc, StatementSummaries)  # the schema's type
    assert doc["type"] == "statement_summaries"
    assert doc["filer_code"] == "B76"
    expected = [json.loads(statement_summary(s)) for s in statements(outs)]
    assert doc["summaries"] == expected
    assert len(expected) == 12
    assert {e["type"] for e in expected} == {"statement_summary"}
    assert [e["difference"]["duty"] for e in expected if e["difference"]] == ["-10.00"] * 6


def test_summaries_of_several_filers_go_under_each_filers_key() -> None:
    outs = published([b"a"])
    other = [msgspec.structs.replace(s, filer_code="Z99") for s in statements(outs)]
    folded = summary_outputs([*statements(outs), *other])
    assert [o.key for o in folded] == [b"B76", b"Z99"]
    assert [len(json.loads(o.value)["summaries"]) for o in folded] == [4, 4]


def test_summaries_over_the_limit_are_split_and_none_is_lost() -> None:
    sts = statements(published([b"a", b"b", b"c", b"d", b"e"])) * 5
    whole = summary_outputs(sts)
    (one,) = whole
    for limit in (record_size(one) - 1, record_size(one) // 3, 1500, 900):
        parts = summary_outputs(sts, limit)
        assert len(parts) > 1
        for p in parts:  # over the limit only when one summary alone is
            assert record_size(p) <= limit or len(json.loads(p.value)["summaries"]) == 1
        joined = [s for p in parts for s in json.loads(p.value)["summaries"]]
        assert joined == json.loads(one.value)["summaries"]
    tiny = summary_outputs(sts[:3], 10)  # each alone: too large, `fit` dead-letters it
    assert [len(json.loads(p.value)["summaries"]) for p in tiny] == [1, 1, 1]


def test_reroute_copies_and_other_outputs_have_no_summary() -> None:
    outs = published([b"a"])
    statement = next(o for o in outs if o.sink is Sink.STATEMENTS)
    copy = Output(
        Sink.STATEMENTS,
        statement.key,
        statement.value,
        (("pms-type", b"statement"), ("pms-reroute-of", b"r1")),
    )
    assert published_statement(copy) is None
    assert with_summaries([copy], {}) == [copy]
    # a statement output without its event is read from its value
    bare = Output(Sink.STATEMENTS, statement.key, statement.value, statement.headers)
    assert published_statement(bare) == statement.event
