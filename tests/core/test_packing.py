"""Message packing (pms_stream.packing): messages keyed by the filer of each stream, never mixing
two keys, at most `pack` records each, as `pms-stream send` sends them."""

from __future__ import annotations

import io

from pms_stream.generator import GenerateOptions, generate
from pms_stream.packing import messages


def test_each_transmission_is_keyed_by_its_filer_and_cut_at_pack() -> None:
    generated = generate(GenerateOptions(statements=6, seed=3))
    buffer = io.BytesIO()
    generated.write(buffer)
    data = buffer.getvalue()
    out = list(messages(io.BytesIO(data), 7, "filer", concatenate=False))
    records = [r for _, value in out for r in value.split(b"\n")]
    assert b"\n".join(records) == data.rstrip(b"\n").replace(b"\r", b"")
    for key, value in out:
        lines = value.split(b"\n")
        assert 1 <= len(lines) <= 7
        assert key is not None
        for line in lines:
            if line[:1] == b"A":  # the filer code of the A record, positions 6-8
                assert line[5:8].rstrip() == key
            if line[:1] == b"B":  # of the B record, positions 8-10
                assert line[7:10].rstrip() == key


def test_unkeyed_and_concatenated() -> None:
    generated = generate(GenerateOptions(statements=2, seed=1))
    buffer = io.BytesIO()
    generated.write(buffer)
    out = list(messages(io.BytesIO(buffer.getvalue()), 1000, "none", concatenate=True))
    assert all(key is None and len(value) % 80 == 0 for key, value in out)


def test_transmission_keys_keep_each_transmission_whole_under_one_key() -> None:
    generated = generate(GenerateOptions(statements=40, seed=2))
    buffer = io.BytesIO()
    generated.write(buffer)
    data = buffer.getvalue()
    out = list(messages(io.BytesIO(data), 1, "transmission", concatenate=False))
    assert b"\n".join(value for _, value in out) == data.rstrip(b"\n")
    key = None
    keys_by_filer: dict[bytes, set[bytes]] = {}
    for message_key, value in out:
        if value[:1] == b"A":  # a transmission starts: filer (6-8) / transmission date (15-20)
            key = value[5:8].rstrip() + b"/" + value[14:20]
            keys_by_filer.setdefault(value[5:8].rstrip(), set()).add(key)
        assert message_key == key  # every record up to the Z under its A's key
        if value[:1] == b"Z":
            key = None
    assert any(len(keys) > 1 for keys in keys_by_filer.values())  # a filer's months spread
