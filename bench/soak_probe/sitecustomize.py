"""The soak's heap probe: what the service's heap holds, as opposed to what its RSS keeps.

`bench/soak.py` starts `pms-stream run` with this directory on PYTHONPATH and
`SOAK_HEAP_FILE` set; Python imports `sitecustomize` at start-up, and this one starts a daemon
thread that appends one JSON line every `SOAK_HEAP_EVERY_S` seconds (default 2) to that file:

- `malloc_inuse` and `malloc_free`: bytes glibc's malloc has handed out and holds free in its
  arenas (`mallinfo2`; absent elsewhere). Python objects over 512 bytes (statement JSON, the
  reroute store's values, Kafka buffers) live here.
- `py_blocks`: `sys.getallocatedblocks()`, the small objects held by Python's own allocator.
- `gc_objects`: objects tracked by the garbage collector, counted on the service's own thread at
  the end of a garbage collection (a `gc.callbacks` hook, at most once per interval), never from
  the probe's thread: `gc.get_objects()` on another thread can take a reference to a tuple the
  service's thread is still building (`tuple(generator)`), whose resize then fails with
  `SystemError: Objects/tupleobject.c:927: bad argument to internal function` (it ended a soak
  on 2026-12-01). On the collecting thread the list is gone before the builder resumes.

RSS is a high-water mark (neither allocator gives every freed page back), so RSS alone cannot
tell a leak from a peak; these figures can: a leak grows them, a peak does not. Outside the soak
(the variable unset) this module does nothing. Flow: service process -> **probe** -> soak sampler.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # the ctypes layout of glibc's struct mallinfo2
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo() -> Callable[[], _MallInfo2] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        info = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    info.restype = _MallInfo2
    return info


_GC_OBJECTS: dict[str, float | int | None] = {"count": None, "at": 0.0}


def _count_gc_objects(every: float) -> Callable[[str, dict[str, int]], None]:
    """A `gc.callbacks` hook: after a collection, at most once per `every` seconds, the count of
    objects the collector tracks (on the collecting thread: see the module's docstring)."""

    def hook(phase: str, _info: dict[str, int]) -> None:
        now = time.monotonic()
        at = _GC_OBJECTS["at"]
        assert at is not None
        if phase == "stop" and now - at >= every:
            _GC_OBJECTS["at"] = now
            _GC_OBJECTS["count"] = len(gc.get_objects())

    return hook


def _probe(path: str, every: float) -> None:
    info = _mallinfo()
    while True:
        line: dict[str, float | int | None] = {
            "t": time.time(),
            "py_blocks": sys.getallocatedblocks(),
            "gc_objects": _GC_OBJECTS["count"],
            "malloc_inuse": None,
            "malloc_free": None,
        }
        if info is not None:
            m = info()
            line["malloc_inuse"] = m.uordblks + m.hblkhd  # arenas in use plus mmapped chunks
            line["malloc_free"] = m.fordblks
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        time.sleep(every)


_PATH = os.environ.get("SOAK_HEAP_FILE")
if _PATH:
    _EVERY = float(os.environ.get("SOAK_HEAP_EVERY_S", "2"))
    gc.callbacks.append(_count_gc_objects(_EVERY))
    threading.Thread(target=_probe, args=(_PATH, _EVERY), name="soak-heap", daemon=True).start()
