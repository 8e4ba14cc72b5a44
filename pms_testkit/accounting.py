"""Counting a chaos run: what was expected, what a read_committed consumer saw, and the verdict.

Expected statements and rejects come from the pure core fed the very messages that were sent
(the oracle); what was published is read back from the real topics. A
statement is compared without its `source` (file lines offline, topic offsets in Kafka) and
counted as a multiset: `lost` are expected but missing, `duplicated` seen more often than
expected. Rejects are compared by their raw bytes. Results accumulate in
`bench/out/chaos-results.json` for docs/reliability.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pms_testkit.kafka_helpers import Received

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "out" / "chaos-results.json"


def statement_identity(doc: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in doc.items() if k not in ("source", "time")}, sort_keys=True)


@dataclass
class Outcome:
    scenario: str
    iterations: int
    statements_expected: int
    statements_seen: int
    lost: int
    duplicated: int
    rejects_expected: int
    rejects_seen: int
    rejects_wrong: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.rejects_wrong == 0


def count(
    scenario: str,
    *,
    iterations: int,
    want: tuple[list[str], list[str]],
    statements: list[Received],
    rejects: list[Received],
    started: float,
) -> Outcome:
    """Count what a read_committed consumer saw against the oracle's statements and rejects."""
    expected, expected_rejects = Counter(want[0]), Counter(want[1])
    seen = Counter(statement_identity(json.loads(r.value or b"")) for r in statements)
    got_rejects = Counter(json.loads(r.value or b"")["raw"] for r in rejects)
    outcome = Outcome(
        scenario=scenario,
        iterations=iterations,
        statements_expected=sum(expected.values()),
        statements_seen=sum(seen.values()),
        lost=sum((expected - seen).values()),
        duplicated=sum((seen - expected).values()),
        rejects_expected=sum(expected_rejects.values()),
        rejects_seen=sum(got_rejects.values()),
        rejects_wrong=sum(
            ((expected_rejects - got_rejects) + (got_rejects - expected_rejects)).values()
        ),
        seconds=round(time.monotonic() - started, 1),
    )
    record(outcome)
    return outcome


def record(outcome: Outcome) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results[outcome.scenario] = {
        **asdict(outcome),
        "ok": outcome.ok,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
