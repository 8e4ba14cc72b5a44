"""Properties of the codec over generated input: exact round trips, and only RecordError.

- every valid record (generated field by field from the layouts) round-trips byte for byte;
- any mutation of a valid record either parses to something that re-encodes identically, or
  raises RecordError;
- arbitrary bytes and text raise nothing but RecordError;
- the generated fast path and the precise path give the same answer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_stream import RecordError, encode_record, parse_record
from pms_stream.catair import codec
from pms_stream.catair.fastpath import Bail
from pms_testkit.strategies import PRINTABLE, any_valid_record

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(any_valid_record)
def test_every_valid_record_round_trips(raw: str) -> None:
    record = parse_record(raw)
    assert encode_record(record) == raw.encode("ascii")
    assert parse_record(encode_record(record)) == record


@st.composite
def mutated(draw: st.DrawFn) -> str:
    raw = draw(any_valid_record)
    chars = list(raw)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, 79))
        chars[i] = draw(st.sampled_from(PRINTABLE + "\x00\t\x7f\xe9"))
    return "".join(chars)


def _parse_or_error(raw: str | bytes) -> object:
    try:
        return parse_record(raw)
    except RecordError as exc:
        return exc


@SETTINGS
@given(mutated())
def test_mutations_reencode_identically_or_raise_record_error(raw: str) -> None:
    result = _parse_or_error(raw)
    if not isinstance(result, RecordError):
        assert encode_record(result) == raw.encode("ascii")  # type: ignore[arg-type]


@SETTINGS
@given(mutated())
def test_fast_path_agrees_with_precise_path(raw: str) -> None:
    if not (raw.isascii() and raw.isprintable()):
        return
    plan = codec._BY_IDENTIFIER.get(raw[:2]) or codec._BY_IDENTIFIER.get(raw[:1])
    if plan is None:
        return
    try:
        precise: object = plan.parse(raw)
    except RecordError as exc:
        precise = exc
    if plan.fast == plan.parse:
        return  # no fast path for this layout
    try:
        fast: object = plan.fast(raw)
    except Bail:
        return  # the fast path may bail (and raise nothing else); the precise path then decides
    assert repr(fast) == repr(precise)  # repr also tells Decimal("1.0") from Decimal("1.00")


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.binary(min_size=78, max_size=82),
        st.text(max_size=200),
        st.text(min_size=78, max_size=82),
    )
)
def test_arbitrary_input_raises_only_record_error(raw: bytes | str) -> None:
    _parse_or_error(raw)
