"""Field values: one converter (text -> value) and one formatter (value -> text) per field kind.

`CONVERTERS[kind](field)` makes the converter of one layout field, `FORMATTERS[kind](field)` its
formatter (`raw_formatter` for lenient fields, kept as received). Each is a closure specialised
to its field's width, class and status once, at import. A converter is strict: any problem
raises `Invalid` with a reason a person reads (and, where it can, the offset of the first bad
character); a formatter raises `Invalid` when a value cannot fit its field. The codec
(catair/codec.py) compiles them into its per-layout plans and turns `Invalid` into the
`RecordError` that names record type, field and positions; the fast path (catair/fastpath.py)
borrows the date converters.

Flow: framing -> codec (**values**, plans) -> assembler.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pms_stream.catair.fields import Cls, Field, Kind, Status
from pms_stream.catair.records import Secret

__all__ = ["CONVERTERS", "FORMATTERS", "Converter", "Formatter", "Invalid", "raw_formatter"]


class Invalid(ValueError):  # noqa: N818 - a complaint, never escapes the codec
    """A converter's or formatter's complaint about one field; `offset` is 0-based inside the
    field. A ValueError: the fast path's date converters (these) refuse a date with it. The
    codec turns it into a `RecordError` naming the record, field and positions."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


Converter = Callable[[str], Any]
Formatter = Callable[[Any], str]


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------


def _first_non_digit(text: str) -> int:
    return next(i for i, ch in enumerate(text) if not ch.isdigit() or not ch.isascii())


def _blank(f: Field) -> None:
    if f.status is Status.M:
        raise Invalid("mandatory field is blank")


def _check_class(f: Field, value: str) -> None:
    """Class rules for a non-blank, right-trimmed value."""
    if f.cls is Cls.X:
        return
    if value[0] == " ":
        raise Invalid("value must be left-justified (leading spaces)", 0)
    for i, ch in enumerate(value):
        if f.cls is Cls.N:
            ok = "0" <= ch <= "9"
            want = "digits"
        elif f.cls is Cls.A:
            ok = "A" <= ch <= "Z"
            want = "upper-case letters"
        else:
            ok = "A" <= ch <= "Z" or "0" <= ch <= "9"
            want = "upper-case letters and digits"
        if not ok:
            raise Invalid(f"character {ch!r} not allowed: class {f.cls.value} takes {want}", i)


def _text_converter(f: Field) -> Converter:
    values = f.values
    allowed = ", ".join(sorted(values)) if values else ""
    mandatory = f.status is Status.M
    cls = f.cls
    fast_an = cls is Cls.AN

    def convert(text: str) -> str | None:
        value = text.rstrip(" ")
        if not value:
            if mandatory:
                raise Invalid("mandatory field is blank")
            return None
        # Fast path for the common AN case; the full check names the bad character.
        if not ((fast_an and value.isalnum() and value.isupper()) or value.isdigit()):
            _check_class(f, value)
        if values is not None and value not in values:
            raise Invalid(
                f"must be one of {allowed} (or blank)"
                if not mandatory
                else f"must be one of {allowed}"
            )
        return value

    if cls is Cls.X:

        def convert_x(text: str) -> str | None:
            value = text.rstrip(" ")
            if not value:
                if mandatory:
                    raise Invalid("mandatory field is blank")
                return None
            return value

        return convert_x
    return convert


def _amount_converter(f: Field) -> Converter:
    mandatory = f.status is Status.M
    blank = " " * f.width
    units = f.width - 2

    def convert(text: str) -> Decimal | None:
        if text.isdigit() and text.isascii():
            return Decimal(f"{text[:units]}.{text[units:]}")
        if text == blank:
            if mandatory:
                raise Invalid("mandatory field is blank")
            return None
        i = _first_non_digit(text)
        raise Invalid(
            f"an amount is {f.width} digits with two implied decimals; {text[i]!r} is not a digit",
            i,
        )

    return convert


_MONTHS: Final = range(1, 13)


def _date_converter(f: Field) -> Converter:
    mandatory = f.status is Status.M
    cache: dict[str, date] = {}

    def convert(text: str) -> date | None:
        hit = cache.get(text)
        if hit is not None:
            return hit
        if text == "      ":
            if mandatory:
                raise Invalid("mandatory field is blank")
            return None
        if not (text.isdigit() and text.isascii()):
            i = _first_non_digit(text)
            raise Invalid(f"a date is MMDDYY, digits only; {text[i]!r} is not a digit", i)
        month, day, year = int(text[0:2]), int(text[2:4]), 2000 + int(text[4:6])
        if month not in _MONTHS:
            raise Invalid(f"impossible date: month {month:02d} (MMDDYY)", 0)
        try:
            value = date(year, month, day)
        except ValueError:
            raise Invalid(
                f"impossible date: day {day:02d} of {year}-{month:02d} (MMDDYY)", 2
            ) from None
        if len(cache) < 4096:
            cache[text] = value
        return value

    return convert


def _int_converter(f: Field) -> Converter:
    mandatory = f.status is Status.M
    blank = " " * f.width
    low, high = f.minimum, f.maximum

    def convert(text: str) -> int | None:
        if text == blank:
            if mandatory:
                raise Invalid("mandatory field is blank")
            return None
        if not (text.isdigit() and text.isascii()):
            i = _first_non_digit(text)
            raise Invalid(f"digits only (class N, zero-filled); {text[i]!r} is not a digit", i)
        value = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise Invalid(f"must be from {low:0{f.width}d} to {high:0{f.width}d}")
        return value

    return convert


def _secret_converter(f: Field) -> Converter:
    def convert(text: str) -> Secret | None:
        value = text.rstrip(" ")
        if not value:
            return None
        if value[0] == " " or not value.isalnum():
            raise Invalid("a password is letters and digits, left-justified")
        return Secret(value)

    return convert


CONVERTERS: Final[dict[Kind, Callable[[Field], Converter]]] = {
    Kind.TEXT: _text_converter,
    Kind.AMOUNT: _amount_converter,
    Kind.DATE: _date_converter,
    Kind.INT: _int_converter,
    Kind.SECRET: _secret_converter,
}


# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------


def _text_formatter(f: Field) -> Formatter:
    width = f.width

    def fmt(value: str | None) -> str:
        if value is None:
            return " " * width
        if not isinstance(value, str) or len(value) > width:
            raise Invalid(f"must be a string of at most {width} characters")
        return value.ljust(width)

    return fmt


_CENT: Final = Decimal("0.01")


def _amount_formatter(f: Field) -> Formatter:
    width = f.width
    limit = 10**width

    def fmt(value: Decimal | None) -> str:
        if value is None:
            return " " * width
        if not isinstance(value, Decimal) or not value.is_finite():
            raise Invalid("an amount must be a finite Decimal")
        try:
            cents = value.scaleb(2)
            exact = cents == cents.to_integral_value()
        except InvalidOperation:
            exact = False
        if not exact:
            raise Invalid("an amount has at most two decimal places")
        whole = int(cents)
        if not 0 <= whole < limit:
            raise Invalid(f"an amount is from 0.00 to {Decimal(limit - 1).scaleb(-2)}")
        return f"{whole:0{width}d}"

    return fmt


def _date_formatter(f: Field) -> Formatter:
    def fmt(value: date | None) -> str:
        if value is None:
            return "      "
        if not isinstance(value, date) or not 2000 <= value.year <= 2099:
            raise Invalid("a date must be a datetime.date in 2000-2099")
        return f"{value.month:02d}{value.day:02d}{value.year % 100:02d}"

    return fmt


def _int_formatter(f: Field) -> Formatter:
    width = f.width

    def fmt(value: int | None) -> str:
        if value is None:
            return " " * width
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**width:
            raise Invalid(f"must be a whole number from 0 to {10**width - 1}")
        return f"{value:0{width}d}"

    return fmt


def _secret_formatter(f: Field) -> Formatter:
    width = f.width

    def fmt(value: Secret | None) -> str:
        if value is None:
            return " " * width
        if not isinstance(value, Secret) or len(value.reveal()) > width:
            raise Invalid(f"must be a Secret of at most {width} characters")
        return value.reveal().ljust(width)

    return fmt


def raw_formatter(f: Field) -> Formatter:
    width = f.width

    def fmt(value: str) -> str:
        if not isinstance(value, str) or len(value) != width:
            raise Invalid(f"a field kept as received must be exactly {width} characters")
        return value

    return fmt


FORMATTERS: Final[dict[Kind, Callable[[Field], Formatter]]] = {
    Kind.TEXT: _text_formatter,
    Kind.AMOUNT: _amount_formatter,
    Kind.DATE: _date_formatter,
    Kind.INT: _int_formatter,
    Kind.SECRET: _secret_formatter,
}
