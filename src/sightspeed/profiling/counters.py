"""Work counters that code inside a span declares: ``counters.add(flops=..., disk_bytes=...)``.

The executor (or a ``sightspeed.stage`` block) opens a fresh tally around each span on the running thread and
stores what was added in the span's ``work``. Outside any span ``add`` does nothing and costs one attribute lookup.
"""

from __future__ import annotations

import threading

_local = threading.local()


def add(**work: float) -> None:
    """Add work to the span running on this thread: flops, mem_bytes, disk_bytes, jpeg_pixels.

    >>> outer = begin(); add(flops=10); add(flops=5, disk_bytes=3); end(outer)
    {'flops': 15, 'disk_bytes': 3}
    """
    tally = getattr(_local, "tally", None)
    if tally is not None:
        for key, value in work.items():
            tally[key] = tally.get(key, 0) + value


def begin() -> dict | None:
    """Start a tally on this thread; returns the enclosing one, to hand to :func:`end`."""
    outer = getattr(_local, "tally", None)
    _local.tally = {}
    return outer


def end(outer: dict | None) -> dict[str, float]:
    """Close this thread's tally, fold it into the enclosing one (nested spans count in both), return it."""
    tally = getattr(_local, "tally", None) or {}
    _local.tally = outer
    if outer is not None:
        for key, value in tally.items():
            outer[key] = outer.get(key, 0) + value
    return tally
