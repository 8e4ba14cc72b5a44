"""The query store and API (pure): every version of a statement latest first, filtered and paged
lists, the bearer token, 503 while loading, bad parameters; retention and size bound the store,
and its memory per statement is measured."""

from __future__ import annotations

import json
import tracemalloc
from datetime import date
from typing import Any

import msgspec
import pytest

from pms_stream.generator import GenerateOptions, generate
from pms_stream.query.api import QueryApi
from pms_stream.query.store import QueryStore
from pms_stream.statements.model import Statement
from pms_stream.stream.outputs import statement_key

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
ENCODER = msgspec.json.Encoder()


def statements(n: int = 60, seed: int = 5) -> list[Statement]:
    return generate(GenerateOptions(statements=n, seed=seed)).statements()


def fill(store: QueryStore, items: list[Statement]) -> None:
    for s in items:
        store.put(statement_key(s), ENCODER.encode(s))


def api_for(store: QueryStore, loaded: bool = True) -> QueryApi:
    return QueryApi(store, TOKEN, lambda: loaded)


def get(api: QueryApi, target: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    answer = api.answer("GET", target, AUTH if headers is None else headers)
    assert answer is not None
    return answer.status, json.loads(answer.body)


def test_every_version_latest_first() -> None:
    items = statements()
    store = QueryStore(today=lambda: date(2027, 1, 1))
    fill(store, items)
    final = next(s for s in items if s.status == "final")
    status, body = get(api_for(store), f"/statements/{final.statement_number}")
    assert status == 200
    assert [v["status"] for v in body["versions"]][:1] == ["final"]
    versions = {(v["status"], v["filer_code"]) for v in body["versions"]}
    expected = {
        (s.status, s.filer_code) for s in items if s.statement_number == final.statement_number
    }
    assert versions == expected
    assert get(api_for(store), "/statements/0000P00000")[0] == 404


def test_list_filters_and_pages() -> None:
    items = statements(120)
    store = QueryStore(today=lambda: date(2027, 1, 1))
    fill(store, items)
    api = api_for(store)
    filer = items[0].filer_code
    month = f"{items[0].due_date:%Y-%m}"
    want = sorted(
        (s for s in items if s.filer_code == filer and f"{s.due_date:%Y-%m}" == month),
        key=lambda s: (s.due_date, s.statement_number, s.status),
    )
    got: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        status, body = get(api, f"/statements?filer={filer}&month={month}&limit=2&offset={offset}")
        assert status == 200
        assert body["total"] == len(want)
        assert len(body["statements"]) <= 2
        got += body["statements"]
        offset = body["next_offset"]
    assert [(g["statement_number"], g["status"]) for g in got] == [
        (s.statement_number, s.status) for s in want
    ]
    status, body = get(api, "/statements?status=final&due_from=2000-01-01&due_to=2099-12-31")
    assert body["total"] == sum(1 for s in items if s.status == "final")
    assert all(s["status"] == "final" for s in body["statements"])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/statements?month=2026-13", "month"),
        ("/statements?limit=1001", "limit: an integer 1-1000"),
        ("/statements?due_from=yesterday", "due_from"),
        ("/statements?status=open", "status"),
        ("/statements?colour=red", "unknown parameter colour"),
        ("/statements?filer=A&filer=B", "filer: give it once"),
    ],
)
def test_bad_parameters_are_400(target: str, message: str) -> None:
    status, body = get(api_for(QueryStore()), target)
    assert status == 400
    assert message in body["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}, {"authorization": "Basic "}],
)
def test_without_the_token_401(headers: dict[str, str]) -> None:
    answer = api_for(QueryStore()).answer("GET", "/statements/2726P10001", headers)
    assert answer is not None
    assert answer.status == 401
    assert ("WWW-Authenticate", "Bearer") in answer.headers


def test_loading_is_503_with_retry_after_and_other_paths_are_not_ours() -> None:
    api = api_for(QueryStore(), loaded=False)
    answer = api.answer("GET", "/statements/2726P10001", AUTH)
    assert answer is not None
    assert answer.status == 503
    assert ("Retry-After", "5") in answer.headers
    assert api.answer("GET", "/metrics", AUTH) is None
    assert api.answer("GET", "/statementsx", AUTH) is None
    with pytest.raises(ValueError, match="token"):
        QueryApi(QueryStore(), "", lambda: True)


def test_retention_by_due_date() -> None:
    items = statements()
    today = max(s.due_date for s in items)
    store = QueryStore(today=lambda: today, retention_days=0)
    fill(store, items)
    assert {v.due_date for v in store} == {today}
    store = QueryStore(today=lambda: date(2099, 1, 1))
    fill(store, items)
    assert len(store) == 0


def test_size_bounds_memory_measured() -> None:
    """Memory per statement version, measured with tracemalloc over generated statements (1-6
    daily statements each), and the bound that `max_statements` puts on it."""
    items = statements(2000, seed=8)
    values = [(statement_key(s), ENCODER.encode(s)) for s in items]
    json_bytes = sum(len(v) for _, v in values) / len(values)

    def measure(max_statements: int) -> tuple[int, int]:
        tracemalloc.start()
        store = QueryStore(retention_days=10**5, max_statements=max_statements)
        for key, value in values:
            store.put(key, value)
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return len(store), used

    held, used = measure(10**6)
    per_statement = used / held
    print(f"query store: {per_statement:.0f} B/statement held, JSON {json_bytes:.0f} B")
    assert held == len({k for k, _ in values})
    assert per_statement < json_bytes  # compressed: less than the JSON itself
    bounded, bounded_used = measure(200)
    assert bounded <= 200
    assert bounded_used < 200 * per_statement * 1.5


def test_forecast_route() -> None:
    from pms_stream.forecast.aggregate import ForecastBook

    book = ForecastBook()
    for s in statements(40, seed=3):
        book.apply(s)
    rows = book.forecasts()
    api = QueryApi(QueryStore(), TOKEN, lambda: True, book.forecasts)
    status, body = get(api, "/forecast")
    assert status == 200
    assert len(body["forecasts"]) == len(rows)
    day = rows[0].due_date.isoformat()
    status, body = get(api, f"/forecast?from={day}&to={day}&payer={rows[0].payer}")
    assert [(f["payer"], f["due_date"]) for f in body["forecasts"]] == [(rows[0].payer, day)]
    assert get(api, "/forecast?from=soon")[0] == 400
    assert get(api_for(QueryStore()), "/forecast")[0] == 404  # the stage is not running
