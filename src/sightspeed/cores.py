"""The core budget: how many cores a run may use, and how many threads each thread of it may hand to a pool.

This is a bottom module (standard library only): kernels, runtimes and executors all read it, it reads none of them.

Two things live here:

- :func:`available` — the cores this process may use: its CPU affinity, capped by a cgroup CPU quota.
- The per-thread share — :func:`threads_here` is how many threads the code running on *this* thread may give to an
  intra-op pool (a model runtime, numba, an OpenMP region). An executor sets it around each stage call with
  :func:`use_threads`; outside any run it is every available core, as a plain script would expect.

:class:`CoreBudget` is the object one run owns: the cores, a split of ``workers x threads`` per stage, and the
tokens that stop the stages from using more cores at once than the budget holds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_local = threading.local()


def _cgroup_quota() -> float | None:
    """The cgroup (v2, else v1) CPU quota in cores, or None when there is none."""
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read())
        period = int(open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available() -> int:
    """Cores this process may use: its affinity mask, capped by a cgroup CPU quota (rounded up), at least 1.

    >>> available() >= 1
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, -int(-quota // 1)))
    return max(1, cores)


def threads_here() -> int:
    """Threads the code on this thread may give to a pool: the stage's share inside a run, else every core.

    >>> with use_threads(1):
    ...     threads_here()
    1
    """
    n = getattr(_local, "threads", None)
    return n if n is not None else available()


@contextlib.contextmanager
def use_threads(n: int) -> Iterator[int]:
    """Within the block, :func:`threads_here` on this thread is ``n`` (restored after, nested blocks included)."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    before = getattr(_local, "threads", None)
    _local.threads = n
    try:
        yield n
    finally:
        _local.threads = before


def quiet_pools() -> None:
    """Ask OpenMP pools to sleep, not spin, when idle. Takes effect only for pools not yet started, so the CLI
    calls it first thing; Python users call it before importing numpy-heavy code, or set the variables."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")


@dataclass(frozen=True)
class Share:
    """One stage's part of the budget: up to ``workers`` calls at once, each with ``threads`` threads."""

    workers: int
    threads: int


@dataclass
class CoreBudget:
    """The cores one run may use, and how they are split between its stages.

    A stage call holds ``threads`` core tokens while it runs (it waits for them when other stages hold them), so
    the threads working at any moment never outnumber ``cores`` — however many stages and workers there are —
    unless ``oversubscribe`` is set. A worker blocked waiting for input or for tokens uses no core.

    >>> budget = CoreBudget(2)
    >>> with budget.hold(1), budget.hold(1):
    ...     budget.free
    0
    >>> budget.free
    2
    """

    cores: int
    oversubscribe: bool = False
    split: dict[str, Share] = field(default_factory=dict)
    _free: int = field(init=False, repr=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cores < 1:
            raise ValueError(f"a core budget needs at least 1 core, got {self.cores}")
        self._free = self.cores

    @classmethod
    def for_process(cls, cores: int | None = None, oversubscribe: bool = False) -> CoreBudget:
        """``cores`` (the user's ``--cores N``), else every core this process may use."""
        return cls(cores if cores is not None else available(), oversubscribe)

    @property
    def free(self) -> int:
        return self._free

    @contextlib.contextmanager
    def hold(self, threads: int) -> Iterator[None]:
        """Hold ``threads`` tokens (at most the whole budget) for the block; the caller's thread share is
        ``threads`` meanwhile."""
        n = min(threads, self.cores)
        if self.oversubscribe:
            with use_threads(threads):
                yield
            return
        with self._cond:
            while self._free < n:
                self._cond.wait()
            self._free -= n
        try:
            with use_threads(threads):
                yield
        finally:
            with self._cond:
                self._free += n
                self._cond.notify_all()

    def describe(self) -> dict[str, object]:
        """What a Session records: the cores and each stage's ``workers x threads``."""
        return {"cores": self.cores, "oversubscribe": self.oversubscribe,
                "split": {name: {"workers": s.workers, "threads": s.threads} for name, s in self.split.items()}}


@contextlib.contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """``cv2.setNumThreads(n)`` for the block, the previous value restored after (it is process-wide)."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


_TF_POOLS: dict[str, int] = {}  # the intra-op threads this process's TensorFlow runs with, once known


def tensorflow_pools(tf: object, threads: int) -> int:
    """Size TensorFlow's process-wide pools (``tf``: the module) to ``threads`` intra-op threads and 1 inter-op
    thread if nothing sized them yet; returns the intra-op threads in use. TensorFlow allows it only before its
    first op: after that (the user's own code ran one) the pools stay as they are, and their size is returned."""
    if "intra" not in _TF_POOLS:
        threading_config = tf.config.threading  # type: ignore[attr-defined]
        try:
            threading_config.set_intra_op_parallelism_threads(threads)
            threading_config.set_inter_op_parallelism_threads(1)
            _TF_POOLS["intra"] = threads
        except RuntimeError:
            _TF_POOLS["intra"] = threading_config.get_intra_op_parallelism_threads()
    return _TF_POOLS["intra"]
