"""The assembler on hand-built transmissions: blocks and bare runs, order rules, rejects,
checks, and the open state it can rebuild from."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import Event, RejectedEvent, RerouteRequestEvent, Statement
from tests.core import records_by_hand as rh
from tests.core import statements_by_hand as sh


def run(records: list[str], file: str = "hand.txt") -> list[Event]:
    assembler = Assembler(file=file)
    events: list[Event] = []
    for line, record in enumerate(records, 1):
        events += assembler.feed(record.encode("ascii"), Origin(line=line))
    return events + assembler.flush()


def as_json(event: Event) -> Any:
    return msgspec.json.decode(msgspec.json.encode(event))


def statements(events: list[Event]) -> list[Statement]:
    return [e for e in events if isinstance(e, Statement)]


def rejects(events: list[Event]) -> list[RejectedEvent]:
    return [e for e in events if isinstance(e, RejectedEvent)]


def test_block_transmission_gives_the_expected_json() -> None:
    events = run(sh.TRANSMISSION)
    assert [type(e).__name__ for e in events] == ["Statement", "Statement"]
    preliminary, _final = statements(events)
    assert as_json(preliminary) == sh.EXPECTED_PRELIMINARY


def test_final_statement_totals_and_difference() -> None:
    final = statements(run(sh.TRANSMISSION))[1]
    doc = as_json(final)
    assert doc["status"] == "final"
    assert doc["preliminary_totals"]["duty"] == "1200.00"
    assert doc["final_totals"] == {
        "duty": "1190.00",
        "tax": "50.00",
        "add": "150.25",
        "cvd": "10.00",
        "amount_due": "1459.05",
        "fees": [
            {"code": "499", "name": "Merchandise processing fee", "amount": "54.61"},
            {"code": "501", "name": "Harbor maintenance fee", "amount": "4.19"},
        ],
    }
    assert doc["difference"]["duty"] == "-10.00"
    assert doc["difference"]["amount_due"] == "-10.00"
    assert doc["difference"]["tax"] == "0.00"
    assert doc["deleted_entries"] == [
        {
            "daily_statement": "2704A00002",
            "entry_number": "B7603245278",
            "delete_source": "BKR",
            "entry_number_formatted": "B76-0324527-8",
        }
    ]
    assert [c["code"] for c in doc["checks"]] == ["final_difference"]
    assert doc["checks"][0]["severity"] == "info"
    assert doc["source"] == {"file": "hand.txt", "first_line": 13, "last_line": 27}


def test_bare_run_gives_the_same_statements_without_block_fields() -> None:
    block = statements(run(sh.TRANSMISSION))
    bare = statements(run(sh.BARE))
    assert [s.status for s in bare] == ["preliminary", "final"]
    for b, s in zip(block, bare, strict=True):
        assert s.framing == "bare"
        assert s.district_port is None
        assert s.payment_type is None
        assert s.process_date is None
        assert s.daily_statements == b.daily_statements
        assert s.preliminary_totals == b.preliminary_totals
        assert s.final_totals == b.final_totals
        assert s.difference == b.difference
        assert s.deleted_entries == b.deleted_entries
        assert s.checks == [c for c in b.checks if c.code == "final_difference"]


def test_a_statement_with_no_fees_and_no_daily_statement_detail_is_valid() -> None:
    records = [
        rh.fixed(
            ("Q3", 2),
            ("2726P10002", 10),
            ("101626", 6),
            ("102226", 6),
            ("B76", 3),
            rh.sp(12),
            rh.sp(11),
            rh.sp(11),
            rh.sp(19),
        ),
        rh.fixed(("Q4", 2), rh.sp(11), rh.sp(11), ("00000000000", 11), rh.sp(45)),
    ]
    (statement,) = statements(run(records))
    assert statement.daily_statements == []
    assert str(statement.preliminary_totals.amount_due) == "0.00"
    assert statement.checks == []


@pytest.mark.parametrize(
    ("insert_at", "record", "reason"),
    [
        (2, sh.D1[1], "duplicate Q2"),  # Q1 Q2 [Q2] QA
        (1, sh.D1[2], "QA without its Q1 and Q2"),  # Q1 [QA] Q2
        (3, sh.D1[2], "duplicate or out-of-order QA sequence 01 after 01"),
        (9, sh.PRELIMINARY_TOTALS[1], "duplicate Q4"),  # after Q4
        (0, sh.PRELIMINARY_TOTALS[1], "Q4 record with no statement open"),
        (7, sh.FINAL_TOTALS[0], "Q5 before the preliminary totals"),  # before Q4
        (0, sh.Q7, "Q7 record with no statement open"),
        (3, sh.Q7, "Q7 before the totals"),
    ],
)
def test_out_of_order_records_are_rejected_and_the_statement_survives(
    insert_at: int, record: str, reason: str
) -> None:
    clean = statements(run(sh.PRELIMINARY_Q))[0]
    records = list(sh.PRELIMINARY_Q)
    records.insert(insert_at, record)
    events = run(records)
    (bad,) = rejects(events)
    assert reason in bad.reason
    assert bad.raw == record
    assert bad.source.first_line == insert_at + 1
    (statement,) = statements(events)
    assert statement.daily_statements == clean.daily_statements
    assert statement.preliminary_totals == clean.preliminary_totals
    if insert_at > 0:
        assert [c.code for c in statement.checks] == ["rejected_records"]


def test_qa_sequence_gap_is_rejected() -> None:
    qa2 = rh.put(sh.D1[2], 3, "03")
    events = run([*sh.D1[:2], qa2, *sh.PRELIMINARY_TOTALS])
    assert "QA sequence 03 skips 01" in rejects(events)[0].reason


def test_q1_without_q2_is_an_orphan() -> None:
    events = run([sh.D1[0], *sh.PRELIMINARY_Q])
    (bad,) = rejects(events)
    assert bad.record_type == "Q1"
    assert "not followed by its Q2" in bad.reason
    assert len(statements(events)) == 1


def test_q5_on_a_preliminary_block_is_rejected() -> None:
    block = [sh.b("P"), *sh.PRELIMINARY_Q, *sh.FINAL_TOTALS[:1], sh.y(12)]
    events = run(block)
    assert "Q5 on a preliminary statement" in rejects(events)[0].reason
    assert statements(events)[0].status == "preliminary"


def test_incomplete_statement_is_rejected_whole_with_its_raw_records() -> None:
    events = run([*sh.D1, *sh.PRELIMINARY_TOTALS[:1]])  # no Q4
    (bad,) = rejects(events)
    assert bad.kind == "statement"
    assert "no Q4" in bad.reason
    assert bad.record_count == 4
    assert bad.raw.split("\n") == [*sh.D1, sh.PRELIMINARY_TOTALS[0]]


def test_final_block_without_final_totals_is_incomplete() -> None:
    events = run([sh.b("F"), *sh.PRELIMINARY_Q, sh.y(9)])
    (bad,) = rejects(events)
    assert "final statement without Q5" in bad.reason


def test_unclosed_block_is_rejected_at_the_end() -> None:
    events = run([sh.A, sh.b("P"), *sh.PRELIMINARY_Q])
    (bad,) = rejects(events)
    assert bad.kind == "statement"
    assert "no Y record" in bad.reason


def test_y_count_mismatch_is_a_check() -> None:
    events = run([sh.b("P"), *sh.PRELIMINARY_Q, sh.y(7)])
    (statement,) = statements(events)
    assert [c.code for c in statement.checks] == ["record_count"]
    assert "counts 7 records; the block holds 9" in statement.checks[0].message


def test_control_record_orphans() -> None:
    events = run([sh.y(0), sh.Z])
    reasons = [r.reason for r in rejects(events)]
    assert reasons == [
        "Y record without a B record before it",
        "Z record without an A record before it",
    ]


def test_malformed_record_inside_a_block_counts_for_y_and_is_reported() -> None:
    bad = sh.D1[0][:79]
    block = [sh.b("P"), *sh.PRELIMINARY_Q[:3], bad, *sh.PRELIMINARY_Q[3:], sh.y(10)]
    events = run(block)
    (reject,) = rejects(events)
    assert "79 characters" in reject.reason
    (statement,) = statements(events)
    assert [c.code for c in statement.checks] == ["rejected_records"]


def test_mo_block_yields_a_reroute_request() -> None:
    events = run(
        [
            rh.A,
            rh.B_MO,
            rh.QR,
            rh.fixed(
                ("Y", 1), rh.sp(2), ("2704", 4), ("B76", 3), ("MO", 2), ("00001", 5), rh.sp(63)
            ),
            rh.Z,
        ]
    )
    (request,) = events
    assert isinstance(request, RerouteRequestEvent)
    assert request.transmission_date == "111526"
    assert request.scope == "A"
    assert request.site_code == "2704"
    assert request.district_port == "2704"
    assert request.office_code == "01"
    assert request.qr_in_block == 1
    assert request.problems == []
    assert "PASS12" not in msgspec.json.encode(request).decode()


def test_two_qr_in_one_block_are_both_reported_with_the_count() -> None:
    y = rh.fixed(("Y", 1), rh.sp(2), ("2704", 4), ("B76", 3), ("MO", 2), ("00002", 5), rh.sp(63))
    events = run([rh.B_MO, rh.QR, rh.QR, y])
    assert [e.qr_in_block for e in events if isinstance(e, RerouteRequestEvent)] == [2, 2]


def test_qx_yields_a_reroute_ack() -> None:
    events = run([rh.QX])
    doc = as_json(events[0])
    assert doc["type"] == "reroute_ack"
    assert doc["code"] == "MS1"
    assert doc["accepted"] is False
    assert doc["reroute_count"] == 0


_BAD = sh.D1[0][:49] + "X" + sh.D1[0][50:]


@pytest.mark.parametrize(
    "records",
    [
        sh.TRANSMISSION,
        sh.BARE,
        [*sh.BARE[:4], _BAD, *sh.BARE[4:]],  # a malformed record inside a bare statement
        [*sh.TRANSMISSION[:5], _BAD, *sh.TRANSMISSION[5:]],  # ... inside a block
        [*sh.BARE[:2], "Q7", *sh.BARE[2:]],  # a framing-length fragment
    ],
    ids=["block", "bare", "bad-in-bare", "bad-in-block", "short-in-bare"],
)
def test_open_records_rebuild_the_same_state(records: list[str]) -> None:
    for cut in range(len(records) + 1):
        first = Assembler(file="hand.txt")
        for line, record in enumerate(records[:cut], 1):
            first.feed(record.encode(), Origin(line=line))
        rebuilt = Assembler(file="hand.txt")
        for raw, origin in first.open_records():
            rebuilt.feed(raw, origin)
        rest_a: list[Event] = []
        rest_b: list[Event] = []
        for line, record in enumerate(records[cut:], cut + 1):
            rest_a += first.feed(record.encode(), Origin(line=line))
            rest_b += rebuilt.feed(record.encode(), Origin(line=line))
        assert rest_a + first.flush() == rest_b + rebuilt.flush(), cut


def test_a_statement_over_the_record_limit_is_rejected_whole_and_memory_stays_bounded() -> None:
    assembler = Assembler(file="x", max_records=6)
    events: list[Event] = []
    records = [sh.A, sh.b("P"), *sh.PRELIMINARY_Q, sh.y(9), *sh.PRELIMINARY_Q]
    for line, record in enumerate(records, 1):
        events += assembler.feed(record.encode(), Origin(line=line))
    events += assembler.flush()
    rejected = rejects(events)
    whole = [r for r in rejected if r.kind == "statement"]
    assert len(whole) == 2  # the block's and the bare one's
    assert "more than 6 records" in whole[0].reason
    assert whole[0].record_count == 7  # B and the first six Q records: all kept, none twice
    raws = [line for r in rejected for line in r.raw.split("\n")]
    assert sorted(raws) == sorted([sh.b("P"), *sh.PRELIMINARY_Q, *sh.PRELIMINARY_Q])
    later = [r for r in rejected if r.kind == "record"]
    assert all(
        "rejected for having more than 6 records" in r.reason or "no statement open" in r.reason
        for r in later
    )
    assert statements(events) == []
    assert not assembler.open_statement
