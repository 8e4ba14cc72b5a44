"""Money as text: an amount (Decimal, two places) written with exactly two decimals, as in the
JSON contract's strings ("1234.56") and the check messages; and an amount from whole cents.
Never a float.

Flow: used by statements/checks (messages), stream/outputs (statement summaries) and the
generator (which counts in cents).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["from_cents", "money_text"]


def money_text(value: Decimal) -> str:
    """`value` with exactly two decimals: Decimal("5") -> "5.00", Decimal("-1.5") -> "-1.50"."""
    return f"{value:.2f}"


def from_cents(cents: int) -> Decimal:
    """The amount of `cents` whole cents: 123456 -> Decimal("1234.56")."""
    return Decimal(cents).scaleb(-2)
