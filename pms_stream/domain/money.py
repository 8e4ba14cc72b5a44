"""Money as text: an amount (Decimal, two places) written with exactly two decimals, as in the
JSON contract's strings ("1234.56") and the check messages; and an amount from whole cents.
Never a float.

Flow: used by statements/checks (messages), stream/outputs (statement summaries), the
generator (which counts in cents) and the fast block path (cents_text).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["cents_text", "from_cents", "money_text"]


def money_text(value: Decimal) -> str:
    """`value` with exactly two decimals: Decimal("5") -> "5.00", Decimal("-1.5") -> "-1.50"."""
    return f"{value:.2f}"


def from_cents(cents: int) -> Decimal:
    """The amount of `cents` whole cents: 123456 -> Decimal("1234.56")."""
    return Decimal(cents).scaleb(-2)


def cents_text(cents: int) -> str:
    """Whole cents as the JSON contract's amount text, without a Decimal (the fast block path):
    123456 -> "1234.56", -50 -> "-0.50"; equal to `money_text(from_cents(cents))`."""
    if cents < 0:
        return "-%d.%02d" % divmod(-cents, 100)  # noqa: UP031 - the quickest here
    return "%d.%02d" % divmod(cents, 100)  # noqa: UP031
