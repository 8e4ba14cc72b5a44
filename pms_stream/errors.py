"""The errors pms-stream raises: one small tree, shared by every stage of the flow.

```
PmsError                      any error raised on purpose by pms-stream
├── DataError (ValueError)    bad input: reported, dead-lettered, never stops the stream
│   ├── RecordError           one 80-character record is malformed (codec)
│   ├── FramingError          bytes that do not make whole records (framing)
│   └── AssemblyError         a good record in the wrong place (assembler)
└── ConfigError               the service cannot start as configured
```

Every `DataError` names what was wrong precisely enough for a person to fix the input: the
record type, the field, its 1-based positions as in the CATAIR chapter, the offending value
(redacted where it is personal data) and a reason. `source` says where the input came from
(file and line, or topic, partition and offset); the stage that knows it fills it in.
"""

from __future__ import annotations

__all__ = [
    "AssemblyError",
    "ConfigError",
    "DataError",
    "FramingError",
    "PmsError",
    "RecordError",
]


class PmsError(Exception):
    """Base of every error pms-stream raises on purpose."""


class ConfigError(PmsError):
    """The configuration is invalid; the message names the setting and what is accepted."""


class DataError(PmsError, ValueError):
    """Bad input. Carries enough to report it and to dead-letter it with its raw bytes."""

    def __init__(
        self,
        reason: str,
        *,
        record_type: str | None = None,
        field: str | None = None,
        start: int | None = None,
        end: int | None = None,
        value: str | None = None,
        raw: bytes | None = None,
        source: str | None = None,
    ) -> None:
        self.reason = reason
        self.record_type = record_type
        self.field = field
        self.start = start
        self.end = end
        self.value = value
        self.raw = raw
        self.source = source
        super().__init__(reason)

    @property
    def positions(self) -> str | None:
        """The 1-based positions as the chapter prints them: "44-54", or "2" for one."""
        if self.start is None:
            return None
        if self.end is None or self.end == self.start:
            return str(self.start)
        return f"{self.start}-{self.end}"

    def __str__(self) -> str:
        parts: list[str] = []
        if self.record_type:
            parts.append(f"{self.record_type} record")
        if self.field:
            parts.append(f"field {self.field}")
        if self.positions:
            parts.append(f"positions {self.positions}")
        where = ", ".join(parts)
        text = f"{where}: {self.reason}" if where else self.reason
        if self.value is not None:
            text += f" (value {self.value!r})"
        if self.source:
            text += f" [{self.source}]"
        return text


class RecordError(DataError):
    """One record is malformed: wrong length, bytes, identifier, class, date, constant, ..."""


class FramingError(DataError):
    """Bytes that do not divide into 80-character records, e.g. a trailing partial record."""


class AssemblyError(DataError):
    """A well-formed record that cannot be placed: out of order, orphan, duplicate, incomplete."""
