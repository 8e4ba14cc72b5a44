"""A preliminary and a final statement written record by record from the chapter's tables,
with their arithmetic done by hand (see the comments). Nothing here uses the generator."""

from __future__ import annotations

from pms_testkit.records_by_hand import fixed, sp

# fmt: off
A = fixed(("A", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(5), ("MS", 2), sp(10),
          ("01", 2), sp(20), sp(21))
Z = fixed(("Z", 1), ("2704", 4), ("B76", 3), sp(6), ("111526", 6), sp(17), ("01", 2), sp(41))


def b(status: str) -> str:
    return fixed(("B", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), (status, 1),
                 ("2726P10001", 10), ("101626", 6), ("6", 1), sp(12), sp(2), ("01", 2), sp(4),
                 sp(3), sp(2), sp(1), sp(3), sp(21))


def y(count: int) -> str:
    return fixed(("Y", 1), sp(2), ("2704", 4), ("B76", 3), ("MS", 2), (f"{count:05d}", 5),
                 sp(27), ("01", 2), sp(33), ("Y", 1))


# Daily statement 1: duty 1000.00 + tax 50.00 + fees 29.61 + 4.19 = 1083.80 due.
D1 = [
    fixed(("Q1", 2), ("2704A00001", 10), ("2704", 4), ("B76", 3), sp(12), ("100526", 6),
          ("100326", 6), ("00000100000", 11), ("00000005000", 11), sp(15)),
    fixed(("Q2", 2), ("00000000000", 11), ("00000000000", 11), ("00000108380", 11), sp(45)),
    fixed(("QA", 2), ("01", 2), ("499", 3), ("00000002961", 11), ("501", 3),
          ("00000000419", 11), sp(3), sp(11), sp(3), sp(11), sp(3), sp(11), sp(6)),
]


def d2(duty: str, due: str) -> list[str]:
    """Daily statement 2: duty + tax (blank) + ADD 150.25 + CVD 10.00 + fee 25.00 = due."""
    return [
        fixed(("Q1", 2), ("2704A00002", 10), ("2704", 4), ("B76", 3), sp(12), ("101226", 6),
              ("101026", 6), (duty, 11), sp(11), sp(15)),
        fixed(("Q2", 2), ("00000015025", 11), ("00000001000", 11), (due, 11), sp(45)),
        fixed(("QA", 2), ("01", 2), ("499", 3), ("00000002500", 11), sp(3), sp(11), sp(3),
              sp(11), sp(3), sp(11), sp(3), sp(11), sp(6)),
    ]


# Preliminary totals: duty 1200.00, tax 50.00, ADD 150.25, CVD 10.00, fees 499 54.61 and
# 501 4.19; amount due 1083.80 + 385.25 = 1469.05.
PRELIMINARY_TOTALS = [
    fixed(("Q3", 2), ("2726P10001", 10), ("101626", 6), ("102226", 6), ("B76", 3), sp(12),
          ("00000120000", 11), ("00000005000", 11), sp(19)),
    fixed(("Q4", 2), ("00000015025", 11), ("00000001000", 11), ("00000146905", 11), sp(45)),
    fixed(("QE", 2), ("01", 2), ("499", 3), ("00000005461", 11), ("501", 3),
          ("00000000419", 11), sp(3), sp(11), sp(3), sp(11), sp(3), sp(11), sp(6)),
]
# Final: daily statement 2's duty fell from 200.00 to 190.00, so its due is 375.25 and the
# final totals are duty 1190.00 and amount due 1459.05; difference duty -10.00, due -10.00.
FINAL_TOTALS = [
    fixed(("Q5", 2), ("2726P10001", 10), ("101626", 6), ("102226", 6), ("B76", 3), sp(12),
          ("00000119000", 11), ("00000005000", 11), sp(19)),
    fixed(("Q6", 2), ("00000015025", 11), ("00000001000", 11), ("00000145905", 11), sp(45)),
    fixed(("QJ", 2), ("01", 2), ("499", 3), ("00000005461", 11), ("501", 3),
          ("00000000419", 11), sp(3), sp(11), sp(3), sp(11), sp(3), sp(11), sp(6)),
]
Q7 = fixed(("Q7", 2), ("2704A00002", 10), ("B760324527", 10), ("8", 1), ("BKR", 3), sp(11),
           sp(3), sp(11), sp(3), sp(11), sp(3), sp(12))
# fmt: on

PRELIMINARY_Q = D1 + d2("00000020000", "00000038525") + PRELIMINARY_TOTALS
FINAL_Q = D1 + d2("00000019000", "00000037525") + PRELIMINARY_TOTALS + FINAL_TOTALS + [Q7]
PRELIMINARY_BLOCK = [b("P"), *PRELIMINARY_Q, y(len(PRELIMINARY_Q))]
FINAL_BLOCK = [b("F"), *FINAL_Q, y(len(FINAL_Q))]
TRANSMISSION = [A, *PRELIMINARY_BLOCK, *FINAL_BLOCK, Z]
BARE = PRELIMINARY_Q + FINAL_Q

EXPECTED_PRELIMINARY = {
    "type": "statement",
    "schema_version": 1,
    "statement_number": "2726P10001",
    "status": "preliminary",
    "payment_type": "6",
    "filer_code": "B76",
    "importer_number": None,
    "client_branch": None,
    "district_port": "2704",
    "office_code": "01",
    "print_date": "2026-10-16",
    "due_date": "2026-10-22",
    "process_date": "2026-11-15",
    "daily_statements": [
        {
            "number": "2704A00001",
            "district_port": "2704",
            "filer_code": "B76",
            "importer_number": None,
            "print_date": "2026-10-05",
            "presentation_date": "2026-10-03",
            "duty": "1000.00",
            "tax": "50.00",
            "add": "0.00",
            "cvd": "0.00",
            "amount_due": "1083.80",
            "fees": [
                {"code": "499", "name": "Merchandise processing fee", "amount": "29.61"},
                {"code": "501", "name": "Harbor maintenance fee", "amount": "4.19"},
            ],
        },
        {
            "number": "2704A00002",
            "district_port": "2704",
            "filer_code": "B76",
            "importer_number": None,
            "print_date": "2026-10-12",
            "presentation_date": "2026-10-10",
            "duty": "200.00",
            "tax": "0.00",
            "add": "150.25",
            "cvd": "10.00",
            "amount_due": "385.25",
            "fees": [{"code": "499", "name": "Merchandise processing fee", "amount": "25.00"}],
        },
    ],
    "preliminary_totals": {
        "duty": "1200.00",
        "tax": "50.00",
        "add": "150.25",
        "cvd": "10.00",
        "amount_due": "1469.05",
        "fees": [
            {"code": "499", "name": "Merchandise processing fee", "amount": "54.61"},
            {"code": "501", "name": "Harbor maintenance fee", "amount": "4.19"},
        ],
    },
    "final_totals": None,
    "difference": None,
    "deleted_entries": [],
    "checks": [],
    "header_differences": [],
    "framing": "block",
    "record_count": 11,
    "source": {"file": "hand.txt", "first_line": 2, "last_line": 12},
    "reroute_of": None,
}
