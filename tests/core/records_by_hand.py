"""Valid records of every type, built by hand from the chapter's tables, piece by piece.

Each piece is written with the width the chapter gives for its positions, so a test failure
points at the field. Nothing here calls the project's encoder.
"""

from __future__ import annotations


def fixed(*pieces: tuple[str, int]) -> str:
    """Concatenate (text, width) pieces; each text must have exactly its width."""
    out = ""
    for text, width in pieces:
        assert len(text) == width, (text, width)
        out += text
    assert len(out) == 80, len(out)
    return out


def put(record: str, position: int, text: str) -> str:
    """`record` with `text` written from 1-based `position`."""
    return record[: position - 1] + text + record[position - 1 + len(text) :]


def sp(n: int) -> tuple[str, int]:
    return (" " * n, n)


# fmt: off
A = fixed(("A", 1), ("2704", 4), ("B76", 3), ("PASS12", 6), ("111526", 6), sp(5), ("MS", 2),
          sp(10), ("01", 2), sp(20), ("TRANSMITTER DATA 0001", 21))
A_OUTPUT = fixed(("A", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(5), ("MS", 2),
                 sp(10), sp(2), sp(20), sp(21))
B_MS = fixed(("B", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), ("F", 1), ("2726P10001", 10),
             ("111026", 6), ("7", 1), ("12-3456789AB", 12), ("NY", 2), ("01", 2), ("2809", 4),
             ("C12", 3), ("02", 2), ("1", 1), sp(3), ("MY OWN DATA", 11), sp(10))
B_MO = fixed(("B", 1), sp(2), ("2704", 4), ("B76", 3), ("MO", 2), sp(32), ("01", 2), sp(4),
             sp(3), sp(2), sp(1), sp(3), sp(21))
Y = fixed(("Y", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), ("00012", 5), sp(27), ("01", 2),
          sp(33), ("Y", 1))
Z = fixed(("Z", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(17), ("01", 2), sp(41))
Q1 = fixed(("Q1", 2), ("2704A12345", 10), ("2704", 4), ("B76", 3), ("12-3456789AB", 12),
           ("101526", 6), ("102026", 6), ("00000123456", 11), ("00000000700", 11), sp(15))
Q2 = fixed(("Q2", 2), ("00000010000", 11), ("00000000000", 11), ("00000135156", 11), sp(45))
QA = fixed(("QA", 2), ("01", 2), ("499", 3), ("00000002500", 11), ("501", 3),
           ("00000000312", 11), ("056", 3), ("00000000088", 11), sp(3), sp(11), sp(3), sp(11),
           sp(6))
Q3 = fixed(("Q3", 2), ("2726P10001", 10), ("111026", 6), ("111726", 6), ("B76", 3),
           ("12-3456789AB", 12), ("00000123456", 11), ("00000000700", 11), sp(19))
Q4 = fixed(("Q4", 2), ("00000010000", 11), ("00000000000", 11), ("00000135156", 11), sp(45))
QE = fixed(("QE", 2), ("01", 2), ("499", 3), ("00000002500", 11), sp(3), sp(11), sp(3), sp(11),
           sp(3), sp(11), sp(3), sp(11), sp(6))
Q5 = fixed(("Q5", 2), ("2726P10001", 10), ("111026", 6), ("111726", 6), ("B76", 3),
           sp(12), ("00000123400", 11), sp(11), sp(19))
Q6 = fixed(("Q6", 2), ("00000010000", 11), sp(11), ("00000135100", 11), sp(45))
QJ = fixed(("QJ", 2), ("02", 2), ("105", 3), ("00000000001", 11), ("672", 3), ("00000000000", 11),
           sp(3), sp(11), sp(3), sp(11), sp(3), sp(11), sp(6))
Q7 = fixed(("Q7", 2), ("2704A12345", 10), ("B760324527", 10), ("8", 1), ("BKR", 3),
           ("ABC12345676", 11), ("ABI", 3), sp(11), sp(3), sp(11), sp(3), sp(12))
QR = fixed(("QR", 2), ("111526", 6), ("12-3456789AB", 12), ("NY", 2), ("2726P10001", 10),
           ("A", 1), ("Y", 1), ("N", 1), sp(45))
QX = fixed(("QX", 2), ("MS1", 3), ("Trans Dt of Stmt Beyond 14 Days".ljust(34), 34), ("0000", 4),
           sp(37))

ALL = {
    "A": A, "A_OUTPUT": A_OUTPUT, "B_MS": B_MS, "B_MO": B_MO, "Y": Y, "Z": Z, "Q1": Q1, "Q2": Q2,
    "QA": QA, "Q3": Q3, "Q4": Q4, "QE": QE, "Q5": Q5, "Q6": Q6, "QJ": QJ, "Q7": Q7, "QR": QR,
    "QX": QX,
}
# fmt: on
