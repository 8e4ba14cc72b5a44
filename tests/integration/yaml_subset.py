"""A strict reader for the plain YAML the project's deployment files are written in.

The test extra has no YAML library, and these files need only a small, unambiguous part of YAML:
block mappings and sequences (a sequence may sit at its key's indentation), one-line flow
sequences and mappings, plain, single- and double-quoted scalars, literal (`|`) and folded (`>`)
block scalars, comments, and `---` between documents. Anything else is refused with the line
number rather than guessed: anchors, aliases, tags, `?` keys, multi-line flow or quoted
scalars, tab indentation, and the plain scalars that YAML 1.1 and 1.2 read differently (`yes`,
`no`, `on`, `off`, numbers with a leading zero, dates, `1:30`): quote those. So a file this
reader accepts means the same to PyYAML, go-yaml (docker compose, Kubernetes, Prometheus) and
Grafana.

`load(text)` returns the one document of a file, `load_all(text)` every document.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["YamlError", "load", "load_all"]

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+")
_AMBIGUOUS = re.compile(
    r"(?i:y|n|yes|no|on|off)"  # booleans in YAML 1.1
    r"|[-+]?0[0-9_]+"  # octal in YAML 1.1
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?"  # timestamps
    r"|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"  # base 60 in YAML 1.1
    r"|[-+]?\.(inf|Inf|INF|nan|NaN|NAN)"
    r"|[-+]?[0-9][0-9_]*_[0-9_]*"  # 1_000 in YAML 1.1
)
_ESCAPES = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r", "0": "\0", " ": " "}


class YamlError(ValueError):
    """The text is not in the subset this reader accepts (or is not YAML at all)."""


def load_all(text: str) -> list[Any]:
    """Every document of `text` (documents are separated by `---` lines)."""
    documents: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.rstrip() == "---" or line.startswith("--- #"):
            documents.append([])
        elif line.rstrip() == "...":
            raise YamlError("document end markers (...) are not supported")
        else:
            documents[-1].append(line)
    offset = 0
    loaded: list[Any] = []
    for lines in documents:
        parser = _Parser(lines, offset)
        if parser.has_content():
            loaded.append(parser.document())
        offset += len(lines) + 1
    return loaded


def load(text: str) -> Any:
    """The single document of `text`."""
    documents = load_all(text)
    if len(documents) != 1:
        raise YamlError(f"expected one document, found {len(documents)}")
    return documents[0]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _strip_comment(text: str) -> str:
    """`text` (no quoted scalar in it) without a trailing comment."""
    match = re.search(r"(^|\s)#", text)
    return (text[: match.start()] if match else text).rstrip()


def _plain(text: str, where: str) -> Any:
    if not text or text in ("~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _AMBIGUOUS.fullmatch(text):
        raise YamlError(f"{where}: plain scalar {text!r} reads differently in YAML 1.1: quote it")
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text[0] in "&*!%@`|>?{}[],'\"" or text.startswith(("- ", "-\t")):
        raise YamlError(f"{where}: unsupported or reserved start of a scalar: {text!r}")
    if ": " in text or text.endswith(":"):
        raise YamlError(f"{where}: ': ' inside a plain scalar: quote {text!r}")
    return text


def _quoted(text: str, start: int, where: str) -> tuple[str, int]:
    """The quoted scalar starting at `text[start]` and the index just past it."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if quote == "'":
            if c == "'":
                if text[i + 1 : i + 2] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out), i + 1
        elif c == '"':
            return "".join(out), i + 1
        elif c == "\\":
            code = text[i + 1 : i + 2]
            if code == "u":
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if code not in _ESCAPES:
                raise YamlError(f"{where}: unsupported escape \\{code}")
            out.append(_ESCAPES[code])
            i += 2
            continue
        out.append(c)
        i += 1
    raise YamlError(f"{where}: quoted scalar not closed on its line (multi-line: unsupported)")


class _Flow:
    """One-line flow collections: `[a, "b", {c: 1}]`, `{a: 1, b: [x]}`."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.i = 0
        self.where = where

    def _skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i] == " ":
            self.i += 1

    def value(self) -> Any:
        self._skip()
        c = self.text[self.i : self.i + 1]
        if c == "[":
            return self._sequence()
        if c == "{":
            return self._mapping()
        if c in ("'", '"'):
            value, self.i = _quoted(self.text, self.i, self.where)
            return value
        match = re.compile(r"[^,\[\]{}]*").match(self.text, self.i)
        assert match is not None
        self.i = match.end()
        return _plain(match.group().strip(), self.where)

    def _key(self) -> Any:
        self._skip()
        if self.text[self.i : self.i + 1] in ("'", '"'):
            key, self.i = _quoted(self.text, self.i, self.where)
            return key
        match = re.compile(r"[^,\[\]{}:]*").match(self.text, self.i)
        assert match is not None
        self.i = match.end()
        return _plain(match.group().strip(), self.where)

    def _expect(self, char: str) -> None:
        self._skip()
        if self.text[self.i : self.i + 1] != char:
            raise YamlError(f"{self.where}: expected {char!r} in flow collection {self.text!r}")
        self.i += 1

    def _sequence(self) -> list[Any]:
        self._expect("[")
        items: list[Any] = []
        self._skip()
        if self.text[self.i : self.i + 1] == "]":
            self.i += 1
            return items
        while True:
            items.append(self.value())
            self._skip()
            if self.text[self.i : self.i + 1] == "]":
                self.i += 1
                return items
            self._expect(",")

    def _mapping(self) -> dict[Any, Any]:
        self._expect("{")
        items: dict[Any, Any] = {}
        self._skip()
        if self.text[self.i : self.i + 1] == "}":
            self.i += 1
            return items
        while True:
            key = self._key()
            self._expect(":")
            if key in items:
                raise YamlError(f"{self.where}: duplicate key {key!r}")
            items[key] = self.value()
            self._skip()
            if self.text[self.i : self.i + 1] == "}":
                self.i += 1
                return items
            self._expect(",")


class _Parser:
    def __init__(self, lines: list[str], offset: int) -> None:
        self.lines = lines
        self.offset = offset
        self.i = 0
        for n, line in enumerate(lines):
            if "\t" in line[: _indent(line) + 1] and not _is_blank(line):
                raise YamlError(f"line {offset + n + 1}: tab in indentation")

    def where(self, i: int | None = None) -> str:
        return f"line {self.offset + (self.i if i is None else i) + 1}"

    def has_content(self) -> bool:
        return any(not _is_blank(line) for line in self.lines)

    def _skip_blank(self) -> None:
        while self.i < len(self.lines) and _is_blank(self.lines[self.i]):
            self.i += 1

    def _current(self) -> tuple[int, str] | None:
        self._skip_blank()
        if self.i >= len(self.lines):
            return None
        line = self.lines[self.i]
        return _indent(line), line.strip(" ")

    def document(self) -> Any:
        current = self._current()
        assert current is not None
        value = self._node(current[0])
        if self._current() is not None:
            raise YamlError(f"{self.where()}: unexpected indentation")
        return value

    def _node(self, indent: int) -> Any:
        current = self._current()
        assert current is not None
        if current[1] == "-" or current[1].startswith("- "):
            return self._sequence(current[0])
        if self._key_split(current[1]) is None:
            return self._scalar_line(current[1], indent)
        return self._mapping(current[0])

    def _scalar_line(self, text: str, parent_indent: int) -> Any:
        """A node that is a scalar (or flow collection) alone on its line(s)."""
        where = self.where()
        self.i += 1
        return self._value(text, parent_indent, where)

    def _key_split(self, text: str) -> tuple[Any, str] | None:
        """(key, rest after the colon) when `text` starts a mapping entry, else None."""
        where = self.where()
        if text[:1] in ("'", '"'):
            key, end = _quoted(text, 0, where)
            if text[end : end + 1] == ":" and text[end + 1 : end + 2] in ("", " "):
                return key, text[end + 1 :].strip(" ")
            return None
        match = re.match(r"([^#'\"{}\[\],][^#]*?):( |$)", text)
        if match is None:
            return None
        key = match.group(1)
        if key.startswith(("? ", "<<")):
            raise YamlError(f"{where}: complex keys and merge keys are not supported")
        return _plain(key, where), text[match.end() :].strip(" ")

    def _mapping(self, indent: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        while (current := self._current()) is not None and current[0] == indent:
            text = current[1]
            if text == "-" or text.startswith("- "):
                raise YamlError(f"{self.where()}: sequence item where a mapping key was expected")
            split = self._key_split(text)
            if split is None:
                raise YamlError(f"{self.where()}: expected 'key: value', got {text!r}")
            key, rest = split
            if key in out:
                raise YamlError(f"{self.where()}: duplicate key {key!r}")
            where = self.where()
            self.i += 1
            if _strip_comment(rest) == "":
                out[key] = self._nested(indent, allow_same_indent_sequence=True)
            else:
                out[key] = self._value(rest, indent, where)
        if current is not None and current[0] > indent:
            raise YamlError(f"{self.where()}: unexpected indentation")
        return out

    def _nested(self, indent: int, *, allow_same_indent_sequence: bool) -> Any:
        current = self._current()
        if current is None:
            return None
        child_indent, text = current
        if child_indent > indent:
            return self._node(child_indent)
        is_item = text == "-" or text.startswith("- ")
        if child_indent == indent and is_item and allow_same_indent_sequence:
            return self._sequence(indent)
        return None

    def _sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (current := self._current()) is not None and current[0] == indent:
            text = current[1]
            if not (text == "-" or text.startswith("- ")):
                break
            rest = text[1:].lstrip(" ")
            if _strip_comment(rest) == "":
                self.i += 1
                out.append(self._nested(indent, allow_same_indent_sequence=False))
                continue
            column = indent + len(text) - len(rest)
            if rest == "-" or rest.startswith("- "):
                raise YamlError(f"{self.where()}: nested sequence on one line: unsupported")
            if self._key_split(rest) is not None:
                # A mapping that starts on the item's line: read it as if it began there.
                self.lines[self.i] = " " * column + rest
                out.append(self._mapping(column))
            else:
                where = self.where()
                self.i += 1
                out.append(self._value(rest, indent, where))
        return out

    def _value(self, text: str, parent_indent: int, where: str) -> Any:
        """The value written after `key:` or `- ` (block scalars read the lines that follow)."""
        if text[:1] in ("|", ">"):
            header = _strip_comment(text)
            if header not in ("|", "|-", ">", ">-"):
                raise YamlError(f"{where}: block scalar header {header!r}: use | |- > >-")
            return self._block_scalar(header, parent_indent)
        if text[:1] in ("'", '"'):
            value, end = _quoted(text, 0, where)
            if _strip_comment(text[end:]) != "":
                raise YamlError(f"{where}: text after a quoted scalar: {text[end:]!r}")
            return value
        if text[:1] in ("[", "{"):
            flow = _Flow(_strip_comment(text), where)
            value = flow.value()
            if flow.text[flow.i :].strip():
                raise YamlError(f"{where}: text after a flow collection: {flow.text[flow.i :]!r}")
            return value
        value = _plain(_strip_comment(text), where)
        following = self._current()
        if following is not None and following[0] > parent_indent:
            raise YamlError(f"{self.where()}: multi-line plain scalars are not supported")
        return value

    def _block_scalar(self, header: str, parent_indent: int) -> str:
        body: list[str] = []
        block_indent: int | None = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() == "":
                body.append("")
                self.i += 1
                continue
            indent = _indent(line)
            if block_indent is None:
                if indent <= parent_indent:
                    break
                block_indent = indent
            if indent < block_indent:
                break
            body.append(line[block_indent:])
            self.i += 1
        while body and body[-1] == "":
            body.pop()
        text = "\n".join(body) if header.startswith("|") else _fold(body, self.where())
        return text if header.endswith("-") or not body else text + "\n"


def _fold(lines: list[str], where: str) -> str:
    """A folded block scalar of plain paragraphs: the lines of a paragraph joined by spaces,
    each empty line a newline. More-indented lines (kept as they are by YAML) are refused."""
    out = ""
    previous: str | None = None
    for line in lines:
        if line.startswith(" "):
            raise YamlError(f"{where}: more-indented line in a folded scalar: use |")
        if previous is None:
            out = line
        elif line == "":
            out += "\n"
        elif previous == "":
            out += line
        else:
            out += " " + line
        previous = line
    return out
