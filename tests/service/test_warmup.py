"""The service's warm-up: the first statement of a fresh process must not pay for lazy set-up
(docs/performance.md: 0.35 s on the first statement without it). What it must have loaded is
checked, not how long anything takes (speed lives in bench/)."""

from __future__ import annotations

import subprocess
import sys

from pms_stream.service.warmup import warm_up

_PROBE = """
import sys
from pms_stream.service.warmup import warm_up
before = "holidays.countries.united_states" in sys.modules
warm_up()
print(before, "holidays.countries.united_states" in sys.modules)
"""


def test_warm_up_builds_statements_offline_and_returns_its_seconds() -> None:
    seconds = warm_up()
    assert 0 < seconds < 60


def test_the_warm_up_loads_the_holiday_calendar_the_first_statement_would_load() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "True"]
