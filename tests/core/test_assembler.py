"""The assembler on hand-built transmissions: blocks and bare runs, order rules, rejects,
checks, and the open state it can rebuild from."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import Event, RejectedEvent, RerouteRequestEvent, Statement
from pms_testkit import records_by_hand as rh
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


TOTALS_ONLY = [
    rh.fixed(("Q3", 2), ("2726P10002", 10), ("111026", 6), ("111726", 6), ("B76", 3),
             rh.sp(12), rh.sp(11), rh.sp(11), rh.sp(19)),
    rh.fixed(("Q4", 2), rh.sp(11), rh.sp(11), ("00000000000", 11), rh.sp(45)),
]  # fmt: skip


TOTALS_BLOCK = [sh.b("P"), *sh.PRELIMINARY_TOTALS, sh.y(3)]


@pytest.mark.parametrize(
    ("records", "rejected", "good"),
    [
        pytest.param(TOTALS_ONLY, TOTALS_ONLY, 0, id="bare Q3 Q4"),
        pytest.param([sh.b("P"), *TOTALS_ONLY, sh.y(2)], [sh.b("P"), *TOTALS_ONLY, sh.y(2)], 0,
                     id="B Q3 Q4 Y"),
        pytest.param([sh.A, *TOTALS_BLOCK, *sh.PRELIMINARY_BLOCK, sh.Z], TOTALS_BLOCK, 1,
                     id="A, B Q3 Q4 QE Y, a good block, Z"),
        pytest.param([*sh.PRELIMINARY_TOTALS, *sh.PRELIMINARY_Q], sh.PRELIMINARY_TOTALS, 1,
                     id="bare Q3 Q4 QE, then a good bare statement"),
    ],
)  # fmt: skip
def test_a_statement_of_totals_alone_is_rejected_whole(
    records: list[str], rejected: list[str], good: int
) -> None:
    """The chapter, overview of the output records: "Output: Record Identifiers Q1, Q2, and QA
    are mandatory detail payment records." A statement without any daily statement (no Q1/Q2)
    is rejected whole, its raw records in the rejected event; nothing else is lost."""
    events = run(records)
    (reject,) = rejects(events)
    assert reject.kind == "statement"
    assert "no daily statement: Q1 and Q2" in reject.reason
    assert reject.raw.split("\n") == rejected
    assert reject.record_count == len(rejected)
    assert [s.statement_number for s in statements(events)] == ["2726P10001"] * good


def test_an_empty_block_names_everything_it_lacks() -> None:
    """The chapter: "Record Identifiers Q1, Q2, and QA are mandatory detail payment records"
    and "Record Identifiers Q3, Q4, and QE are mandatory total payment due records". An empty
    block lacks both, and the reason says so."""
    (reject,) = rejects(run([sh.b("P"), sh.y(0)]))
    assert reject.reason == (
        "incomplete statement: no daily statement: Q1 and Q2 (detail payment records, "
        "mandatory) are missing; no Q3 (statement totals)"
    )


def test_a_statement_whose_only_daily_statement_was_rejected_is_rejected_whole() -> None:
    """The chapter: "Record Identifiers Q1, Q2, and QA are mandatory detail payment records".
    When the only
    Q1 is an orphan (no Q2), it is rejected on its own and the rest of the statement, left
    without any daily statement, is rejected whole; each record is in exactly one reject."""
    records = [sh.b("P"), sh.D1[0], *sh.PRELIMINARY_TOTALS, sh.y(4)]
    events = run(records)
    assert statements(events) == []
    orphan, whole = rejects(events)
    assert orphan.kind == "record"
    assert orphan.raw == sh.D1[0]
    assert whole.kind == "statement"
    assert "no daily statement" in whole.reason
    assert whole.raw.split("\n") == [sh.b("P"), *sh.PRELIMINARY_TOTALS, sh.y(4)]


@pytest.mark.parametrize("payment_type", ["1", "2", "3", "5", "9", "X"])
def test_a_block_whose_payment_type_is_not_monthly_is_rejected_whole(payment_type: str) -> None:
    """The chapter: "There are 10 periodic monthly statement output records that generate
    reports containing entry summary data with a payment indicator of 6 (payments are to be
    batched by entry filer code), 7 (...), or 8 (...)." An MS block whose B record carries another
    payment type is not a monthly statement: rejected whole, naming the field, its position and
    the value (docs/spec-decisions.md)."""
    b = rh.put(sh.b("P"), 30, payment_type)
    records = [sh.A, b, *sh.PRELIMINARY_Q, sh.y(len(sh.PRELIMINARY_Q)), sh.Z]
    events = run(records)
    assert statements(events) == []
    (reject,) = rejects(events)
    assert reject.kind == "statement"
    assert (reject.record_type, reject.field, reject.positions, reject.value) == (
        "B",
        "payment_type",
        "30",
        payment_type,
    )
    assert "payment type 6, 7 or 8" in reject.reason
    assert "B record payment_type (position 30)" in reject.reason
    assert reject.raw.split("\n") == records[1:-1]


@pytest.mark.parametrize("payment_type", ["6", "7", "8", " "])
def test_monthly_and_blank_payment_types_are_accepted(payment_type: str) -> None:
    """The chapter: "... with a payment indicator of 6 ..., 7 ..., or 8". These pass; a blank
    indicator (the
    B record's field is conditional) is accepted too, as statements without a B record are."""
    b = rh.put(sh.b("P"), 30, payment_type)
    (statement,) = statements(run([b, *sh.PRELIMINARY_Q, sh.y(len(sh.PRELIMINARY_Q))]))
    assert statement.payment_type == (None if payment_type == " " else payment_type)


def test_b_and_q3_header_differences_are_in_the_json() -> None:
    """The chapter's tables take "Periodic Statement # | B | Statement Number", "Periodic
    Statement Date | B | Preliminary Statement Print Date" (Figure 1) and "Broker/Filer # | B |
    Entry Filer Code" (Figure 4) from the B record, and "Statement # | Q3 | Periodic Monthly
    Statement Number" (Figure 2) from Q3. When they differ the statement says which one it shows
    (Q3's) and keeps B's in `header_differences`."""
    b = rh.put(rh.put(rh.put(sh.b("P"), 14, "2726P10009"), 24, "111126"), 8, "C12")
    y = rh.put(sh.y(len(sh.PRELIMINARY_Q)), 8, "C12")
    (statement,) = statements(run([b, *sh.PRELIMINARY_Q, y]))
    assert statement.statement_number == "2726P10001"
    doc = as_json(statement)
    assert doc["header_differences"] == [
        {"field": "statement_number", "shown": "Q3", "q3": "2726P10001", "b": "2726P10009"},
        {"field": "print_date", "shown": "Q3", "q3": "2026-10-16", "b": "2026-11-11"},
        {"field": "filer_code", "shown": "Q3", "q3": "B76", "b": "C12"},
    ]
    messages = [c.message for c in statement.checks if c.code == "header_mismatch"]
    assert len(messages) == 3
    assert messages[0] == (
        "B statement number 2726P10009 does not match Q3's 2726P10001: the statement shows "
        "Q3's; the detail and deleted-entries reports show B's (Figures 1 and 4)"
    )
    agreeing = statements(run(sh.PRELIMINARY_BLOCK))[0]
    assert agreeing.header_differences == []


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
    # the overflowed block's Y goes with its records: redriven, they form a whole block again
    assert sorted(raws) == sorted([sh.b("P"), *sh.PRELIMINARY_Q, sh.y(9), *sh.PRELIMINARY_Q])
    later = [r for r in rejected if r.kind == "record"]
    assert all(
        "rejected for having more than 6 records" in r.reason or "no statement open" in r.reason
        for r in later
    )
    assert statements(events) == []
    assert not assembler.open_statement
