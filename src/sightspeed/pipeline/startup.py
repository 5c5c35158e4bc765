"""Start-up: the time a pipeline spends before its first input (fetching, loading, compiling and warming up its
models and kernels), timed step by step so a run can show it apart from processing.

A task's builder times its steps with a :class:`Startup` and hands them over on the Pipeline (``setup``); the
runner records them, with its own ``worker set-up`` step (each stage's ``prepare`` on each worker), as
``kind="setup"`` spans: they never count as a stage's run time, and the run's wall time (``Session.wall_s``)
starts after them. Their times are before the session's zero (negative): they happened before processing began.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

WORKER_SETUP = "worker set-up"  # the runner's own step: every stage's prepare hook on every worker thread


@dataclass(frozen=True)
class SetupStep:
    """One timed start-up step; ``start`` and ``end`` are ``time.perf_counter()`` seconds."""

    name: str
    start: float
    end: float
    thread: str = "MainThread"

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Startup:
    """Times the steps of building a pipeline, in order.

    >>> startup = Startup()
    >>> with startup.step("load detector"):
    ...     pass
    >>> [s.name for s in startup.steps], startup.steps[0].seconds >= 0
    (['load detector'], True)
    """

    steps: list[SetupStep] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as the start-up step ``name`` (kept even when the block raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.steps.append(SetupStep(name, start, time.perf_counter(), threading.current_thread().name))


def record(session, steps: list[SetupStep], perf_now: float, session_now: float) -> None:
    """Record ``steps`` in ``session`` as ``kind="setup"`` spans, mapped to its clock by the one instant known on
    both (``perf_now`` on ``time.perf_counter()`` is ``session_now`` on the session's clock)."""
    for s in steps:
        session.record(s.name, session_now - (perf_now - s.start), session_now - (perf_now - s.end), kind="setup",
                       thread=s.thread)
