"""Hotspots that point at the line: a sampling profiler that knows each thread's stage.

A daemon thread wakes every ``interval`` seconds (5 ms by default) and reads ``sys._current_frames()``. Each
Python thread's sample goes to the stage that thread is in (the sampler is an instrument of the session, so it sees
every ``stage()`` block and executor stage begin and end on every thread; outside any stage: the ``base``, e.g.
``(script)``), weighted by the wall time since the previous sample and by the thread's own CPU time meanwhile.

- **Line**: the innermost frame that is the user's code (not the standard library, not an installed package, not
  sightspeed): time inside a C call, or inside a library, goes to the user's line that made the call. sightspeed's
  own instrumentation, ``contextlib`` and ``threading`` frames are never a hotspot. Python >= 3.11 gives each
  instruction its source columns (``code.co_positions()`` at ``frame.f_lasti``), so a line also carries the span of
  the expression running: the ``x.astype(np.float32) ** 1.2`` of ``y = x.astype(np.float32) ** 1.2 + b``.
- **Function** (``session.hotspots`` in this mode): the innermost frame's function, by sampled own time.
- **Category** of the leaf (innermost) frame: ``numpy/OpenCV`` (array work: a numpy/OpenCV function, or an
  operator such as ``a * b`` caught while it ran with the GIL released, which only native code does), ``file I/O``,
  ``plain Python`` (bytecode running, or builtins / standard library calls), ``waiting`` (blocked: a lock, a queue,
  ``sleep``, or a call during which the thread got under 30% of a core), ``other native code`` (a call
  into another library). A sample caught at an operator is read from the instruction itself; a sample caught at a
  call from the called name, resolved statically from the source (``cv2.resize`` -> OpenCV); never by reading the
  thread's local variables.

Why a thread sampler rather than pyinstrument or yappi: both are installable, but yappi is a tracer (a hook on every
call, so cProfile's overhead) that knows functions, not lines; pyinstrument samples through a profile hook (a call
on every Python call and return) and reports functions with their first lines, without columns; neither knows which
sightspeed stage a thread is in at the instant of a sample, which the sampler reads from the same dict as the frames.
On benchmarks/sampler_overhead.py's workload pyinstrument (5 ms) costs +69%, yappi +165%, cProfile +66-85%, this
sampler +2.6% to +3.6% wall (the paired median of 40 rounds, three runs on a shared 2-vCPU VM: its <= 3% target met
in one of them; docs/benchmarks.md).

Python threads only: a runtime's native pool threads have no Python frames (their CPU is in each span's ``cpu``,
:mod:`.cpu`). A thread running Python bytecode holds the GIL, so the sampler waits for it (up to the switch interval,
5 ms): on pure-Python code samples come about every ``interval + 5 ms``; each is weighted by the time it covers.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from .hotspots import _short

from .frames import (_CACHE_LIMIT, _FILES, _LINUX_CLOCKS, _WHERE, CALLS_THROUGH, DEFAULT_INTERVAL, IO, OURS,
                     PLUMBING, PYTHON, USER, WAITING, WAITING_CPU, file_kind, fileless_kind, line_row, where)


class Sampler:
    """An instrument for ``Session.instruments`` (``begin``/``end``/``resume``) and the sampling thread.

    >>> sampler = Sampler(interval=0.001, base="(main)").start()
    >>> _ = sum(i * i for i in range(1_000_000))
    >>> sampler.stop().samples > 0
    True
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL, base: str | None = "(main)") -> None:
        if interval <= 0:
            raise ValueError(f"the sampling interval must be > 0 s, not {interval}")
        self.interval, self.base = interval, base
        self.samples = 0  # thread samples taken
        self.failed = 0  # samples lost to an error of the sampler's own
        self._stacks: dict[int, list[str]] = {}  # thread ident -> stages open on it (innermost last)
        self._lines: dict[tuple, list] = {}  # (stage, file, line, function) -> [wall, cpu, n, {cols: w}, {cat: w}]
        self._functions: dict[tuple, list] = {}  # (stage, code) -> [wall, n]
        self._stage_time: dict[str, list[float]] = {}  # stage -> [wall, python wall]
        self._categories: dict[tuple[str, str], list[float]] = {}  # (stage, category) -> [wall, cpu]
        self._cpu: dict[int, float] = {}  # thread ident -> its CPU clock at the previous sample
        self._natives: dict[int, int] = {}
        self._where = _WHERE  # (code, lasti) -> where(): shared by the process's samplers (code does not change)
        self._files = _FILES  # filename -> file_kind()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.home = threading.get_ident()  # outside any stage, this thread's samples are the base's (start: its)

    # ----- the instrument: which stage each thread is in --------------------------------------------------------
    def begin(self, stage: str) -> None:
        self._stacks.setdefault(threading.get_ident(), []).append(stage)

    def end(self, stage: str) -> None:
        stack = self._stacks.get(threading.get_ident())
        if stack:
            stack.pop()

    def resume(self) -> None:
        pass

    def stage_of(self, ident: int) -> str | None:
        top = self._stacks.get(ident, [])[-1:]  # a slice: the owning thread may pop meanwhile
        return top[0] if top else None

    # ----- the thread --------------------------------------------------------------------------------------------
    def start(self) -> Sampler:
        self.home = threading.get_ident()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sightspeed-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Sampler:
        self._stop.set()  # wakes the thread now: a profile's end never waits out an interval
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self

    def _run(self) -> None:
        me = threading.get_ident()
        last = time.perf_counter()
        while not self._stop.wait(self.interval):
            now = time.perf_counter()
            self.sample(now - last, skip=me)
            last = now

    def sample(self, wall: float, skip: int | None = None) -> None:
        """Take one sample of every Python thread (but ``skip``), each weighted ``wall`` seconds."""
        frames = sys._current_frames()
        for ident, frame in frames.items():
            if ident != skip:
                try:
                    self._one(ident, frame, wall)
                except Exception:  # noqa: BLE001 - a sample lost, never the user's run (nor a traceback in it)
                    self.failed += 1
        del frames

    def _one(self, ident: int, frame: Any, wall: float) -> None:
        cpu = self._thread_cpu(ident)  # first: its previous reading must be this interval's start, kept or not
        leaf, through = frame, False
        while leaf is not None:  # past sightspeed's and contextlib's frames to the innermost that does work
            kind = self._frame_kind(leaf)
            if kind == OURS:
                if leaf.f_code in CALLS_THROUGH:
                    through = True
                elif not through:
                    return  # the profiler's own bookkeeping (a span's start or end): nobody's line
            elif kind != PLUMBING:
                break
            leaf = leaf.f_back
        if leaf is None:
            return
        line, cols, category, in_call = self._at(leaf)
        if in_call and cpu is not None and cpu < WAITING_CPU * wall and category != IO:
            category = WAITING  # blocked in a call (a lock, a queue, a socket, a pool's result)
        stage = self.stage_of(ident)
        if stage is None:
            if self.base is None or (ident != self.home and category == WAITING):
                return  # an idle thread outside any stage (a pool worker waiting for work) is nobody's time
            stage = self.base
        user = leaf
        while user is not None and self._frame_kind(user) != USER:
            user = user.f_back
        if user is None:
            user = leaf
        elif user is not leaf:
            line, cols, _, _ = self._at(user)
        self.samples += 1
        code = user.f_code
        key = (stage, code.co_filename, line, getattr(code, "co_qualname", code.co_name))
        row = self._lines.get(key)
        if row is None:
            row = self._lines[key] = [0.0, 0.0, 0, {}, {}]
        row[0] += wall
        row[1] += cpu or 0.0
        row[2] += 1
        row[3][cols] = row[3].get(cols, 0.0) + wall
        row[4][category] = row[4].get(category, 0.0) + wall
        fkey = (stage, leaf.f_code)
        func = self._functions.get(fkey)
        if func is None:
            func = self._functions[fkey] = [0.0, 0]
        func[0] += wall
        func[1] += 1
        st = self._stage_time.get(stage)
        if st is None:
            st = self._stage_time[stage] = [0.0, 0.0]
        st[0] += wall
        if category == PYTHON:
            st[1] += wall
        cat = self._categories.get((stage, category))
        if cat is None:
            cat = self._categories[(stage, category)] = [0.0, 0.0]
        cat[0] += wall
        cat[1] += cpu or 0.0

    def _thread_cpu(self, ident: int) -> float | None:
        """CPU seconds ``ident`` used since its previous sample (None: not known, e.g. its first sample)."""
        if not _LINUX_CLOCKS:
            return None
        native = self._natives.get(ident)
        if native is None:  # a thread not seen yet: read the list again (0: not a threading.Thread, never known)
            self._natives = {t.ident: t.native_id or 0 for t in threading.enumerate()}
            native = self._natives.setdefault(ident, 0)
        if not native:
            return None
        try:
            now = time.clock_gettime(((~native) << 3) | 6)  # the thread's CPU clock (profiling.cpu._thread_clock)
        except OSError:  # the thread ended (its ident may come back with another thread)
            self._natives.pop(ident, None)
            return None
        before = self._cpu.get(ident)
        self._cpu[ident] = now
        return None if before is None else max(0.0, now - before)

    def _kind(self, filename: str) -> int:
        kind = self._files.get(filename)
        if kind is None:
            kind = self._files[filename] = file_kind(filename)
        return kind

    def _frame_kind(self, frame: Any) -> int:
        """:func:`file_kind` of the frame's file; code with no file (``<string>``) by :func:`fileless_kind`."""
        kind = self._kind(frame.f_code.co_filename)
        if kind == USER and frame.f_code.co_filename[:1] == "<":
            kind = fileless_kind(frame, self._kind)
        return kind

    def _at(self, frame: Any) -> tuple[int, tuple, str, bool]:
        """:func:`where` ``frame`` is; cached per instruction."""
        code, lasti = frame.f_code, frame.f_lasti
        found = self._where.get((code, lasti))
        if found is None:
            if len(self._where) > _CACHE_LIMIT:  # code made on the fly (exec in a loop): start over, never grow
                self._where.clear()
            found = self._where[(code, lasti)] = where(code, lasti, frame.f_globals, self._kind(code.co_filename))
        return found

    # ----- results -------------------------------------------------------------------------------------------------
    def lines(self, top: int = 10) -> dict[str, list[dict[str, Any]]]:
        """Per stage, the ``top`` lines by sampled time (``Session.lines``)."""
        by_stage: dict[str, list] = {}
        for (stage, file, line, function), row in self._lines.items():
            by_stage.setdefault(stage, []).append((row[0], file, line, function, row))
        out = {}
        for stage, rows in by_stage.items():
            total = self._stage_time[stage][0] or 1.0
            rows.sort(key=lambda r: -r[0])
            out[stage] = [line_row(file, line, function, row, total) for _, file, line, function, row in rows[:top]]
        return out

    def functions(self, top: int = 3) -> dict[str, list[dict[str, Any]]]:
        """Per stage, the ``top`` functions by sampled own time, shaped like cProfile's hotspot rows (``calls`` is
        0: a sampler does not count calls; ``samples`` says how many samples it took), the first with
        ``python_share`` (the share of the stage's samples that were running Python)."""
        by_stage: dict[str, list] = {}
        for (stage, code), (wall, n) in self._functions.items():
            by_stage.setdefault(stage, []).append((wall, n, code))
        out = {}
        for stage, rows in by_stage.items():
            total, python = self._stage_time[stage]
            rows.sort(key=lambda r: -r[0])
            out[stage] = [{"function": getattr(code, "co_qualname", code.co_name), "calls": 0, "samples": n,
                           "where": f"{_short(code.co_filename)}:{code.co_firstlineno}", "own_ms": 1000 * wall,
                           "share": wall / total if total else 0.0} for wall, n, code in rows[:top]]
            out[stage][0]["python_share"] = python / total if total else 0.0
        return out

    def categories(self, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, dict[str, float]]:
        """Sampled thread time by category, the stages in ``exclude`` left out: {category: {wall_s, cpu_s,
        unstaged_s}}; ``unstaged_s``: the part of wall_s sampled outside every stage (the ``base``'s), what a
        verdict about code nobody wrapped in a stage may quote (time in the user's own stages is theirs)."""
        out: dict[str, dict[str, float]] = {}
        for (stage, cat), (wall, cpu) in self._categories.items():
            if stage not in exclude:
                entry = out.setdefault(cat, {"wall_s": 0.0, "cpu_s": 0.0, "unstaged_s": 0.0})
                entry["wall_s"] += wall
                entry["cpu_s"] += cpu
                if stage == self.base:
                    entry["unstaged_s"] += wall
        return out


