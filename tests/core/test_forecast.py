"""The ACH cash forecast: the book (latest version per statement, payer by payment type, the
change per key), and `pms-stream forecast` on generated statements checked against sums worked
out independently from the generator's expected statements."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from pms_stream.cli import main
from pms_stream.forecast.aggregate import ForecastBook, payer_of
from pms_stream.generator import GenerateOptions, generate
from pms_stream.statements.model import Statement, Totals
from tests.core import statements_by_hand as sh

PRELIMINARY = msgspec.convert(sh.EXPECTED_PRELIMINARY, Statement, strict=False)


def final_of(statement: Statement, amount_due: str) -> Statement:
    totals = msgspec.structs.replace(
        statement.preliminary_totals,
        duty=statement.preliminary_totals.duty
        - (statement.preliminary_totals.amount_due - Decimal(amount_due)),
        amount_due=Decimal(amount_due),
    )
    return msgspec.structs.replace(statement, status="final", final_totals=totals)


def test_a_final_that_lowers_the_amount_moves_the_forecast_down() -> None:
    book = ForecastBook()
    (first,) = book.apply(PRELIMINARY)
    assert (first.payer, first.payer_kind, first.due_date) == ("B76", "filer", date(2026, 10, 22))
    assert (first.statements, first.preliminary) == (1, 1)
    assert first.change == first.amount_due == PRELIMINARY.preliminary_totals.amount_due
    (second,) = book.apply(final_of(PRELIMINARY, "1000.00"))
    assert str(second.amount_due) == "1000.00"
    assert second.previous_amount_due == first.amount_due
    assert second.change == Decimal("1000.00") - first.amount_due < 0
    assert (second.statements, second.preliminary) == (1, 0)
    assert second.key == "B76|2026-10-22"


def test_a_preliminary_never_replaces_its_final_and_repeats_change_nothing() -> None:
    book = ForecastBook()
    final = final_of(PRELIMINARY, "1000.00")
    assert book.apply(final)
    assert book.apply(PRELIMINARY) == []
    assert book.apply(final) == []
    assert book.apply(msgspec.structs.replace(PRELIMINARY, reroute_of="t:0:1:1")) == []
    (only,) = book.forecasts()
    assert str(only.amount_due) == "1000.00"


def test_a_statement_moving_to_another_due_date_updates_both_keys() -> None:
    book = ForecastBook()
    book.apply(PRELIMINARY)
    moved = book.apply(
        final_of(msgspec.structs.replace(PRELIMINARY, due_date=date(2026, 10, 23)), "900.00")
    )
    assert [(str(e.due_date), str(e.amount_due), e.statements) for e in moved] == [
        ("2026-10-22", "0.00", 0),
        ("2026-10-23", "900.00", 1),
    ]


@pytest.mark.parametrize(
    ("payment_type", "kind", "payer"),
    [
        ("6", "filer", "B76"),
        ("7", "importer", "12-3456789AB"),
        ("8", "importer", "12-3456789AB"),
        (None, "filer", "B76"),
    ],
)
def test_the_payer(payment_type: str | None, kind: str, payer: str) -> None:
    statement = msgspec.structs.replace(
        PRELIMINARY, payment_type=payment_type, importer_number="12-3456789AB"
    )
    assert payer_of(statement) == (kind, payer)


def _expected(statements: list[Statement]) -> dict[str, dict[str, object]]:
    """Per payer|due date, worked out without the book: the latest version of each statement."""
    latest: dict[tuple[str, str, str], Statement] = {}
    for s in statements:
        sid = (s.filer_code, s.importer_number or "", s.statement_number)
        if sid in latest and latest[sid].status == "final" and s.status != "final":
            continue
        latest[sid] = s
    out: dict[str, dict[str, object]] = {}
    for s in latest.values():
        payer = s.importer_number if s.payment_type in ("7", "8") else s.filer_code
        totals: Totals = s.final_totals or s.preliminary_totals
        row = out.setdefault(f"{payer}|{s.due_date}", {"amount_due": Decimal(0), "n": 0, "p": 0})
        row["amount_due"] = Decimal(str(row["amount_due"])) + totals.amount_due
        row["n"] = int(str(row["n"])) + 1
        row["p"] = int(str(row["p"])) + (s.status == "preliminary")
    return {k: {**v, "amount_due": f"{v['amount_due']:.2f}"} for k, v in out.items()}


def test_cli_forecast_of_generated_statements(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    made = generate(GenerateOptions(statements=120, seed=11))
    path = tmp_path / "in.txt"
    with path.open("wb") as out:
        made.write(out)
    assert main(["forecast", str(path)]) == 0
    got = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    months = {g["payment_month"] for g in got}
    assert len(months) >= 2
    assert len({g["payer"] for g in got}) >= 5
    assert {
        f"{g['payer']}|{g['due_date']}": {
            "amount_due": g["amount_due"],
            "n": g["statements"],
            "p": g["preliminary"],
        }
        for g in got
    } == _expected(made.statements())
    for g in got:  # the components add up to the amount due
        parts = sum((Decimal(g[c]) for c in ("duty", "tax", "add", "cvd")), Decimal(0))
        parts += sum((Decimal(f["amount"]) for f in g["fees"]), Decimal(0))
        assert parts == Decimal(g["amount_due"])
    assert [g["due_date"] for g in got] == sorted(g["due_date"] for g in got)


def test_cli_forecast_reads_json_lines_and_shows_updates(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    encoder = msgspec.json.Encoder()
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        encoder.encode(PRELIMINARY) + b"\n" + encoder.encode(final_of(PRELIMINARY, "1000.00"))
    )
    assert main(["forecast", "--updates", str(path)]) == 0
    first, second = (json.loads(x) for x in capsysbinary.readouterr().out.splitlines())
    assert second["change"] == f"{Decimal('1000.00') - Decimal(first['amount_due']):.2f}"
    assert second["change"].startswith("-")
