"""The forecasts as the compacted forecasts topic holds them: the latest forecast per key, for
`GET /forecast` on any instance (a `FedStore` for a feed of the forecasts topic).

Pure: no I/O. Flow: forecasts topic -> **view** -> query API.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from pms_stream.forecast.event import ForecastEvent

__all__ = ["ForecastView"]

_DECODER = msgspec.json.Decoder(ForecastEvent)


class ForecastView:
    def __init__(self) -> None:
        self._latest: dict[bytes, ForecastEvent] = {}
        self.retention = timedelta(days=3650)  # the whole compacted topic

    def __len__(self) -> int:
        return len(self._latest)

    def put(self, key: bytes | None, value: bytes | None, at: object = None) -> bool:
        if key is None:
            return False
        if value is None:
            return self._latest.pop(key, None) is not None
        try:
            self._latest[key] = _DECODER.decode(value)
        except msgspec.DecodeError:
            return False
        return True

    def forecasts(self) -> list[ForecastEvent]:
        return list(self._latest.values())
