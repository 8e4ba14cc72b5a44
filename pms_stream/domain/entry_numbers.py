"""Entry summary numbers (Appendix E): check digit, validation and the printed form.

An entry number is 11 characters: filer code (3AN), serial (7N), check digit (1N), printed
`XXX-NNNNNNN-N`. Used by the assembler's consistency checks (Q7 deleted entries), the reports
and the generator.
"""

from __future__ import annotations

__all__ = ["check_digit", "format_entry_number", "is_valid_entry_number"]


def _letter_digit(ch: str) -> int:
    """A-I -> 1-9, J-R -> 1-9, S-Z -> 2-9 (Appendix E)."""
    n = ord(ch) - ord("A")
    if n < 9:
        return n + 1
    if n < 18:
        return n - 8
    return n - 16


def check_digit(first_ten: str) -> int:
    """The check digit of an entry number's first 10 characters (filer code + serial).

    >>> check_digit("B760324527")
    8
    >>> check_digit("ABC1234567")
    6
    """
    if len(first_ten) != 10 or not first_ten[3:].isdigit() or not first_ten.isascii():
        raise ValueError(
            f"an entry number starts with 3 filer code characters and 7 digits: {first_ten!r}"
        )
    digits: list[int] = []
    for ch in first_ten:
        if ch.isdigit():
            digits.append(int(ch))
        elif "A" <= ch <= "Z":
            digits.append(_letter_digit(ch))
        else:
            raise ValueError(f"filer code character {ch!r} is not a letter or digit")
    total = 0
    for i, digit in enumerate(reversed(digits)):
        # every other digit, starting with the rightmost, is doubled; 9 off a product over 9
        value = digit * 2 if i % 2 == 0 else digit
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def is_valid_entry_number(number: str) -> bool:
    """True when `number` is 11 characters whose last is the right check digit."""
    if len(number) != 11 or not number[10].isdigit():
        return False
    try:
        return check_digit(number[:10]) == int(number[10])
    except ValueError:
        return False


def format_entry_number(number: str) -> str:
    """`B760324527 8` -> `B76-0324527-8`; other shapes are returned unchanged."""
    if len(number) == 11:
        return f"{number[:3]}-{number[3:10]}-{number[10]}"
    return number
