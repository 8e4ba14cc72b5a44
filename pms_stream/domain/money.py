"""Money as text: an amount (Decimal, two places) written with exactly two decimals, as in the
JSON contract's strings ("1234.56") and the check messages. Never a float.

Flow: used by statements/checks (messages) and stream/outputs (statement summaries).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["money_text"]


def money_text(value: Decimal) -> str:
    """`value` with exactly two decimals: Decimal("5") -> "5.00", Decimal("-1.5") -> "-1.50"."""
    return f"{value:.2f}"
