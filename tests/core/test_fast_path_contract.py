"""The parse contract: the generated fast path raises only `Bail`, and it never bails on clean
input. Clean generated transmissions (every statement record, preliminary and final, fees,
deletions, daily statements, A/B/Y/Z) and the QX answer of every code go through the
fast parser of their record type: each record must be accepted, with the precise path's values.
A fast path that bailed on clean records would pass every other test, only slower."""

from __future__ import annotations

import io
from collections import Counter

from pms_stream import encode_record
from pms_stream.catair import codec
from pms_stream.catair.records import QXRecord
from pms_stream.generator import GenerateOptions, generate
from pms_stream.reroute.rules import MESSAGES


def clean_records() -> list[str]:
    lines: list[str] = []
    for seed in (1, 2, 3):
        generated = generate(
            GenerateOptions(
                statements=40,
                seed=seed,
                framing="bare" if seed == 2 else "block",
                finals=1.0,
                final_changes=0.5,
                deletions=0.5,
                daily=(1, 6),
            )
        )
        buffer = io.BytesIO()
        generated.write(buffer)
        lines += buffer.getvalue().decode("ascii").splitlines()
    for n, (code, message) in enumerate(MESSAGES.items()):  # the answers pms-stream writes
        qx = QXRecord(code=code, message=message, reroute_count=n)
        lines.append(encode_record(qx).decode("ascii"))
    return lines


def test_the_fast_path_never_bails_on_clean_records_of_any_type() -> None:
    with_fast_path = {t for t, plan in codec._PLANS.items() if plan.fast != plan.parse}
    seen: Counter[str] = Counter()
    for line in clean_records():
        plan = codec._BY_IDENTIFIER.get(line[:2]) or codec._BY_IDENTIFIER[line[:1]]
        record_type = plan.layout.record_type
        if record_type not in with_fast_path:
            continue
        fast = plan.fast(line)  # Bail (or anything else) here fails the test
        assert repr(fast) == repr(plan.parse(line)), line
        seen[record_type] += 1
    assert set(seen) == with_fast_path, f"no clean record of {with_fast_path - set(seen)}"
