"""Domain helpers: entry numbers, statement numbers, fee classes, payment types, importers."""

from __future__ import annotations

import pytest

from pms_stream.domain.delete_sources import DELETE_SOURCES, is_delete_source
from pms_stream.domain.entry_numbers import check_digit, format_entry_number, is_valid_entry_number
from pms_stream.domain.fee_classes import FEE_CLASSES, fee_class, report_label
from pms_stream.domain.importer_numbers import ImporterShape, redact, scrub, shape_of
from pms_stream.domain.payment_types import (
    MONTHLY_PAYMENT_TYPES,
    PAYMENT_TYPES,
    describe_payment_type,
    is_importer_statement,
)
from pms_stream.domain.statement_numbers import StatementNumber, decode_statement_number


@pytest.mark.parametrize(
    ("number", "digit"),
    [("B760324527", 8), ("ABC1234567", 6), ("JRS0000001", 6), ("9990000000", 3)],
)
def test_check_digit(number: str, digit: int) -> None:
    assert check_digit(number) == digit
    assert is_valid_entry_number(number + str(digit))
    assert not is_valid_entry_number(number + str((digit + 1) % 10))


def test_entry_number_shapes() -> None:
    assert format_entry_number("B7603245278") == "B76-0324527-8"
    assert format_entry_number("SHORT") == "SHORT"
    assert not is_valid_entry_number("B76032452")
    assert not is_valid_entry_number("b7603245278")
    with pytest.raises(ValueError, match="3 filer code characters and 7 digits"):
        check_digit("B76X324527")


def test_statement_number() -> None:
    assert decode_statement_number("2726P10A1B") == StatementNumber("27", 2026, 10, "A1B")
    for bad, why in [
        ("2726X10001", "'P'"),
        ("2726P13001", "month"),
        ("27P", "10 characters"),
        ("AB26P10001", "district"),
        ("27AAP10001", "year"),
        ("2726P10-01", "sequence"),
    ]:
        with pytest.raises(ValueError, match=why):
            decode_statement_number(bad)


def test_fee_classes() -> None:
    assert fee_class("056").report_label == "COTTON FEE"
    assert report_label("105") == "SHEEP FEE"
    assert report_label("107") == "AVOCADO FEE"
    assert report_label("672") == "PUERTO RICO COFFEE ASSESSMENT"
    unknown = fee_class("999")
    assert unknown.code == "999"
    assert report_label("999") == "FEE CLASS 999"
    assert all(len(code) == 3 for code in FEE_CLASSES)
    assert all(len(report_label(code)) <= 30 for code in FEE_CLASSES)


def test_payment_types() -> None:
    assert set(PAYMENT_TYPES) >= {"6", "7", "8"}
    assert is_importer_statement("7")
    assert is_importer_statement("8")
    assert not is_importer_statement("6")
    assert not is_importer_statement(None)
    assert set(MONTHLY_PAYMENT_TYPES) == {"6", "7", "8"}
    assert describe_payment_type("1") == "single pay"
    assert describe_payment_type("X") == "not a payment type indicator"
    assert describe_payment_type(None) == "blank"


@pytest.mark.parametrize(
    ("code", "valid"),
    [("123", True), ("007", True), ("ENC", True), ("BKR", True), ("ABI", True),
     ("BRK", False), ("NNN", False), ("12", False), ("12A", False), ("", False)],
)  # fmt: skip
def test_delete_sources(code: str, valid: bool) -> None:
    """The Q7 note: "Valid Delete Source Codes are: NNN ..., ENC ..., BKR ..., ABI ..."."""
    assert is_delete_source(code) is valid
    assert set(DELETE_SOURCES) == {"NNN", "ENC", "BKR", "ABI"}


@pytest.mark.parametrize(
    ("number", "shape"),
    [
        ("12-3456789AB", ImporterShape.IRS),
        ("123-45-6789", ImporterShape.SSN),
        ("123456789", ImporterShape.SSN),
        ("260127-12345", ImporterShape.CBP),
        ("ACME", ImporterShape.OTHER),
    ],
)
def test_importer_shapes(number: str, shape: ImporterShape) -> None:
    assert shape_of(number + " ") is shape


def test_redaction() -> None:
    assert redact("123-45-6789") == "***-**-****"
    assert redact("12-3456789AB") == "12-3456789AB"
    assert redact(None) is None
    assert scrub("importer 123-45-6789 and 987654321 but not 1234567890") == (
        "importer ***-**-**** and ***-**-**** but not 1234567890"
    )


def test_scrub_finds_an_ssn_glued_to_other_digits() -> None:
    raw = "Q12704A000012704B76123-45-6789 100526100326"  # as it stands in a raw record
    assert "123-45-6789" not in scrub(raw)
    assert "B76***-**-****" in scrub(raw)


def test_cents_text_is_money_text_of_the_same_cents() -> None:
    """The fast block path writes amounts from whole cents without a Decimal: the same text."""
    from pms_stream.domain.money import cents_text, from_cents, money_text

    for cents in (0, 5, -5, 50, -50, 100, 123456, -123456, 99_999_999_999, -99_999_999_999):
        assert cents_text(cents) == money_text(from_cents(cents))
