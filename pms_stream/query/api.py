"""The query API: HTTP requests for statements (and forecasts) answered from the query store.

- `GET /statements/{statement_number}`: every version held, latest first (a final before its
  preliminary): `{"statement_number": ..., "versions": [statement, ...]}`; 404 when none.
- `GET /statements?filer=&importer=&month=YYYY-MM&status=&due_from=&due_to=&limit=&offset=`:
  the matching statement versions in (due date, statement number, status) order, a page at a
  time (`limit` 1-1000, default 100): `{"total": N, "offset": ..., "limit": ..., "next_offset":
  ... or null, "statements": [...]}`. `month` is the payment month (the due date's).
- `GET /forecast?from=&to=&payer=`: the current ACH cash forecasts (when the service runs the
  forecast stage): `{"forecasts": [...]}` in (due date, payer) order.

Every request needs `Authorization: Bearer <PMS_QUERY_TOKEN>` (compared in constant time; 401
otherwise). While the store is loading: 503 with `Retry-After`. Bad parameters: 400 naming the
parameter. Without a token configured the API is off (the server answers 404 as for any unknown
path), so it is never served, on any address, without the token.

Pure: no I/O. Flow: HTTP server -> **query API** -> query store / forecast book.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from pms_stream.domain.calendar import PaymentMonth
from pms_stream.forecast.event import ForecastEvent
from pms_stream.query.store import QueryStore, Version

__all__ = ["Answer", "QueryApi"]

JSON: Final = "application/json"
MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100
RETRY_AFTER_S: Final = 5
_PARAMS: Final = frozenset(
    {"filer", "importer", "month", "status", "due_from", "due_to", "limit", "offset"}
)
_FORECAST_PARAMS: Final = frozenset({"from", "to", "payer"})
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class _BadRequestError(Exception):
    pass


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return Answer(status, _ENCODER.encode({"error": message}) + b"\n", JSON, headers)


class QueryApi:
    """Answers the query paths; `answer` returns None for any other path."""

    PREFIXES: Final = ("/statements", "/forecast")

    def __init__(
        self,
        store: QueryStore,
        token: str,
        loaded: Callable[[], bool],
        forecasts: Callable[[], Sequence[ForecastEvent]] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the query API needs a token")
        self._store = store
        self._token = token.encode()
        self._loaded = loaded
        self._forecasts = forecasts

    def answer(self, method: str, target: str, headers: dict[str, str]) -> Answer | None:
        """The answer to a request, or None when `target` is not a query path."""
        url = urlsplit(target)
        path = url.path
        if not any(path == p or path.startswith(p + "/") for p in self.PREFIXES):
            return None
        if not self._authorized(headers.get("authorization", "")):
            return _error(401, "a bearer token is required", (("WWW-Authenticate", "Bearer"),))
        if method not in ("GET", "HEAD"):
            return _error(405, "method not allowed", (("Allow", "GET, HEAD"),))
        if not self._loaded():
            return _error(
                503, "the statement store is loading", (("Retry-After", str(RETRY_AFTER_S)),)
            )
        try:
            query = parse_qs(url.query, keep_blank_values=False, strict_parsing=False)
            if path == "/forecast":
                return self._forecast(query)
            if path == "/statements":
                return self._list(query)
            if path.startswith("/statements/") and path.count("/") == 2:
                return self._one(unquote(path.removeprefix("/statements/")))
        except _BadRequestError as exc:
            return _error(400, str(exc))
        return _error(404, "not found")

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        # compare_digest also when the scheme is wrong: no timing difference to learn from
        ok = hmac.compare_digest(given.strip().encode(), self._token)
        return ok and scheme.lower() == "bearer"

    # ---- statements ---------------------------------------------------------------------

    def _one(self, number: str) -> Answer:
        versions = self._store.versions(number)
        if not versions:
            return _error(404, f"no statement {number} held")
        head = _ENCODER.encode({"statement_number": number})[:-1]
        body = head + b',"versions":[' + b",".join(v.value for v in versions) + b"]}\n"
        return Answer(200, body)

    def _list(self, query: dict[str, list[str]]) -> Answer:
        _known(query, _PARAMS)
        filer = _one_value(query, "filer")
        importer = _one_value(query, "importer")
        month = _month(query)
        status = _one_value(query, "status")
        if status not in (None, "preliminary", "final"):
            raise _BadRequestError("status: preliminary or final")
        due_from = _date(query, "due_from")
        due_to = _date(query, "due_to")
        limit = _int(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int(query, "offset", 0, 0, 10**9)

        def wanted(v: Version) -> bool:
            return (
                (filer is None or v.filer == filer)
                and (importer is None or v.importer == importer)
                and (month is None or v.month == month)
                and (status is None or v.status == status)
                and (due_from is None or v.due_date >= due_from)
                and (due_to is None or v.due_date <= due_to)
            )

        found = sorted(
            (v for v in self._store if wanted(v)), key=lambda v: (v.due_date, v.number, v.status)
        )
        page = found[offset : offset + limit]
        after = offset + len(page)
        head = _ENCODER.encode(
            {
                "total": len(found),
                "offset": offset,
                "limit": limit,
                "next_offset": after if after < len(found) else None,
            }
        )[:-1]
        body = head + b',"statements":[' + b",".join(v.value for v in page) + b"]}\n"
        return Answer(200, body)

    # ---- forecasts ----------------------------------------------------------------------

    def _forecast(self, query: dict[str, list[str]]) -> Answer:
        if self._forecasts is None:
            return _error(404, "the forecast stage is not running (PMS_FORECAST)")
        _known(query, _FORECAST_PARAMS)
        start, end = _date(query, "from"), _date(query, "to")
        payer = _one_value(query, "payer")
        rows = [
            f
            for f in self._forecasts()
            if (start is None or f.due_date >= start)
            and (end is None or f.due_date <= end)
            and (payer is None or f.payer == payer)
        ]
        rows.sort(key=lambda f: (f.due_date, f.payer))
        return Answer(200, _ENCODER.encode({"forecasts": rows}) + b"\n")


def _known(query: dict[str, list[str]], names: frozenset[str]) -> None:
    unknown = sorted(set(query) - names)
    if unknown:
        raise _BadRequestError(f"unknown parameter {unknown[0]}; known: {', '.join(sorted(names))}")


def _one_value(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _BadRequestError(f"{name}: give it once")
    return values[0]


def _month(query: dict[str, list[str]]) -> str | None:
    text = _one_value(query, "month")
    if text is None:
        return None
    try:
        return str(PaymentMonth.parse(text))
    except ValueError as exc:
        raise _BadRequestError(f"month: {exc}") from None


def _date(query: dict[str, list[str]], name: str) -> date | None:
    text = _one_value(query, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _BadRequestError(f"{name}: a date YYYY-MM-DD, not {text!r}") from None


def _int(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    text = _one_value(query, name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise _BadRequestError(f"{name}: an integer {low}-{high}")
    return int(text)
