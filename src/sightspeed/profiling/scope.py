"""Profiling anyone's code: ``with sightspeed.profile() as session:`` and ``sightspeed.stage("name")`` blocks.

The active session is process-wide (like cProfile itself), not a ContextVar: a user's worker threads do not
inherit context variables, and their ``stage()`` blocks must land in the same session. Outside ``profile()``,
``stage()`` costs one global read.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from . import counters
from .session import Session

F = TypeVar("F", bound=Callable[..., Any])
_active: Session | None = None
_stage_items = 1  # what a stage() without items= counts while the active profile runs (its stage_items)
_lock = threading.Lock()


def active() -> Session | None:
    return _active


class stage:  # noqa: N801 - used like a function: `with stage("x"):` / `@stage("x")`
    """Time a block (or every call of a function) as the stage ``name`` of the active profiling session.

    ``bytes`` (bytes the block moves) and ``flops`` declare its work, so its bound and % of speed of light can
    be computed; ``items`` is how many items (images, frames) it handled. Without ``items=`` a block counts what
    the active profile's ``stage_items`` says: 1 item per call in ``profile()`` (and in pipelines), 0 (calls
    only, no items/s) in a profiled script or a ``%sightspeed`` cell, whose blocks are rarely one item each.

    >>> with profile(hotspots=False) as session:
    ...     with stage("preprocess", bytes=1000, flops=500):
    ...         _ = sum(range(100))
    >>> [(s.stage, s.work) for s in session.spans]
    [('preprocess', {'mem_bytes': 1000, 'flops': 500})]
    """

    __slots__ = ("name", "bytes", "flops", "items", "_session", "_outer", "_t0", "_c0")

    def __init__(self, name: str, *, bytes: int | None = None, flops: float | None = None,
                 items: int | None = None) -> None:
        self.name, self.bytes, self.flops, self.items = name, bytes, flops, items
        self._session: Session | None = None

    def __enter__(self) -> stage:
        session = self._session = _active
        if session is not None:
            self._outer = counters.begin()
            self._t0, self._c0 = session.now(), session.begin_cpu(self.name)
            for ins in session.instruments:
                ins.begin(self.name)
        return self

    def __exit__(self, *exc: object) -> bool:
        session = self._session
        if session is None:
            return False
        for ins in reversed(session.instruments):
            ins.end(self.name)
        end, cost = session.now(), session.end_cpu(self._c0)
        if self.bytes:
            counters.add(mem_bytes=self.bytes)
        if self.flops:
            counters.add(flops=self.flops)
        items = _stage_items if self.items is None else self.items
        session.record(self.name, self._t0, end, items=items, work=counters.end(self._outer), **cost)
        for ins in session.instruments:
            ins.resume()
        self._session = None
        return False

    def __call__(self, fn: F) -> F:
        name, nbytes, flops, items = self.name, self.bytes, self.flops, self.items

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _active is None:
                return fn(*args, **kwargs)
            with stage(name, bytes=nbytes, flops=flops, items=items):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


@contextmanager
def profile(hotspots: bool = True, mirrors: bool = True, base: str | None = "(main)",
            session: Session | None = None, stage_items: int = 1) -> Iterator[Session]:
    """Profile the block: ``stage()`` spans land in the yielded Session; with ``hotspots``, cProfile per stage
    and per thread, and the time outside any stage on this thread as the stage ``base``. ``stage_items``: what a
    ``stage()`` that gives no ``items=`` counts per call (0: calls only, as a profiled script's stages do).

    After the block, ``session.hotspots`` holds the top functions per stage and ``session.wall_s`` the wall time.
    """
    global _active, _stage_items
    from .hotspots import Hotspots
    from .instruments import available_mirrors

    session = session or Session()
    own_account = session.account is None and session.cpu_clock is time.thread_time
    if own_account:  # every thread's CPU, pool threads included, charged to the stages (an injected clock: not)
        from ..cores import available
        from .cpu import CpuAccount, close_account

        session.account = CpuAccount(cores=available())
        session.account.rebase()
    prof = Hotspots() if hotspots else None
    session.instruments = ([prof] if prof else []) + (available_mirrors() if mirrors else [])
    with _lock:
        if _active is not None:
            raise RuntimeError("a sightspeed profile is already active in this process")
        _active, _stage_items = session, stage_items
    started = time.perf_counter()
    session.now()
    if prof is not None and base:
        prof.begin(base)
    try:
        yield session
    finally:
        if prof is not None and base:
            prof.end(base)
            prof.resume()
        session.wall_s = session.wall_s or time.perf_counter() - started
        with _lock:
            _active, _stage_items = None, 1
        if own_account:
            close_account(session)
        session.instruments = []
        if prof is not None:
            finish_hotspots(session, prof)
            session.profiler = prof


def finish_hotspots(session: Session, prof: Any, top: int = 3) -> None:
    """Store the top functions of each profiled stage in the session (renderers read them from there)."""
    for name in prof.stages():
        rows = prof.top(name, top)
        if rows:
            session.hotspots[name] = rows
