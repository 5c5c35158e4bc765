"""CPU time of every thread of the process, charged to the stages that were running while it was spent.

A span's own thread is measured directly (``time.thread_time`` and ``getrusage(RUSAGE_THREAD)``: CPU, minor page
faults, involuntary context switches). The work of a model runtime, numba or OpenMP often runs on the library's own
pool threads instead, which Python cannot see; their CPU clocks are read at every span boundary
(``clock_gettime`` on the Linux per-thread CPU clock of each thread id in ``/proc/self/task``, about half a
microsecond each), and what they spent since the previous boundary is charged to the spans open in that interval
(the set of open spans does not change between two boundaries, so the split is exact in time):

- while one stage runs, the pool threads that worked are its own (and are learnt as its: pool threads belong to
  one runtime session or one kernel call at a time);
- while several stages run, a pool thread's CPU goes to the stage it was last learnt for; a thread never seen
  alone with one stage is split evenly between the running ones and counted as ``ambiguous`` (the error bound);
- CPU spent while no span is open is ``outside`` (start-up, model loading, the main thread's bookkeeping).

The thread list is re-read at most every ``refresh_s`` (a thread that starts in between is charged from its first
reading, with all the CPU it used since it started). Python threads (``threading.enumerate``) are never pool
threads: a worker that runs a stage measures itself. Cost: one lock, one ``clock_gettime`` per pool thread per
boundary (``benchmarks/profiler_overhead.py`` measures the whole profiler).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field

_HAS_THREAD_CLOCKS = hasattr(time, "clock_gettime") and os.path.isdir("/proc/self/task")
_HAS_RUSAGE_THREAD = hasattr(resource, "RUSAGE_THREAD")


def _thread_clock(tid: int) -> int:
    """The Linux clock id of thread ``tid``'s CPU time (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED))."""
    return ((~tid) << 3) | 6


@dataclass
class Open:
    """A span in progress: its stage and the readings taken when it began."""

    stage: str
    cpu0: float
    process0: float
    wall0: float
    faults0: int = 0
    switches0: int = 0
    pool: float = 0.0  # pool threads' CPU charged to this span so far


@dataclass(frozen=True)
class Cost:
    """What a span cost: CPU seconds (own thread + its pool threads), minor page faults and involuntary context
    switches of its own thread, and how busy the process kept the cores meanwhile (process CPU / wall / cores)."""

    cpu: float
    faults: int = 0
    preempted: int = 0
    saturation: float = 0.0


def _rusage() -> tuple[int, int]:
    if not _HAS_RUSAGE_THREAD:
        return 0, 0
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_minflt, r.ru_nivcsw


@dataclass
class CpuAccount:
    """Charges every thread's CPU to the open spans (see the module docstring).

    >>> account = CpuAccount(cores=2)
    >>> span = account.begin("busy")
    >>> _ = sum(range(200_000))
    >>> cost = account.end(span)
    >>> cost.cpu > 0, cost.faults >= 0
    (True, True)
    """

    cores: int = 1
    refresh_s: float = 0.02
    ambiguous: float = 0.0  # pool CPU split between several running stages
    outside: float = 0.0  # pool CPU while no span was open
    owners: dict[int, str] = field(default_factory=dict)  # pool thread id -> the stage it was learnt for
    _open: dict[int, Open] = field(default_factory=dict, repr=False)
    _last: dict[int, float] = field(default_factory=dict, repr=False)
    _pool: list[int] = field(default_factory=list, repr=False)
    _listed: float = field(default=float("-inf"), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rebase(self) -> None:
        """Forget what the pool threads spent so far (model loading, warm-up): only later CPU is charged."""
        with self._lock:
            self._list(time.perf_counter())
            for tid in self._pool:
                self._read(tid)

    def begin(self, stage: str) -> Open:
        faults, switches = _rusage()
        span = Open(stage, time.thread_time(), time.process_time(), time.perf_counter(), faults, switches)
        with self._lock:
            self._settle()
            self._open[id(span)] = span
        return span

    def end(self, span: Open) -> Cost:
        with self._lock:
            self._settle()
            self._open.pop(id(span), None)
        own = time.thread_time() - span.cpu0
        wall = time.perf_counter() - span.wall0
        busy = time.process_time() - span.process0
        faults, switches = _rusage()
        saturation = busy / (wall * self.cores) if wall > 0 else 0.0
        return Cost(own + span.pool, faults - span.faults0, switches - span.switches0, min(saturation, 1.0))

    # ----- inside the lock -------------------------------------------------------------------------------------
    def _list(self, now: float) -> None:
        self._listed = now
        if not _HAS_THREAD_CLOCKS:
            return
        python = {t.native_id for t in threading.enumerate()}
        try:
            tids = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            return
        self._pool = [t for t in tids if t not in python]

    def _read(self, tid: int) -> float:
        """CPU seconds ``tid`` spent since the last reading (all of it at the first); -1 when it has exited."""
        try:
            now = time.clock_gettime(_thread_clock(tid))
        except OSError:
            self._last.pop(tid, None)
            self.owners.pop(tid, None)
            return -1.0
        spent = now - self._last.get(tid, 0.0)
        self._last[tid] = now
        return spent

    def _settle(self) -> None:
        """Charge what the pool threads spent since the previous boundary to the spans open in that interval."""
        now = time.perf_counter()
        if now - self._listed >= self.refresh_s:
            self._list(now)
        spans = list(self._open.values())
        gone = []
        for tid in self._pool:
            spent = self._read(tid)
            if spent < 0:
                gone.append(tid)
                continue
            if spent <= 0:
                continue
            if not spans:
                self.outside += spent
                continue
            stages = {s.stage for s in spans}
            if len(stages) == 1:  # the only stage running: the thread works for it (re-learnt every time)
                self.owners[tid] = spans[0].stage
                mine = spans
            else:
                owner = self.owners.get(tid)
                mine = [s for s in spans if s.stage == owner] if owner else []
                if not mine:
                    self.ambiguous += spent
                    mine = spans
            share = spent / len(mine)
            for s in mine:
                s.pool += share
        if gone:
            self._pool = [t for t in self._pool if t not in gone]


def close_account(session) -> None:
    """Detach the session's CpuAccount; the pool CPU it could not pin on one stage goes into the counters."""
    account, session.account = session.account, None
    if account is not None:
        session.counters.update({"pool_cpu_ambiguous_s": round(account.ambiguous, 6),
                                 "pool_cpu_outside_s": round(account.outside, 6)})
