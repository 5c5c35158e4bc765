"""Hotspots per stage, across worker threads.

Plain cProfile sees one thread. Here every (thread, stage) pair gets its own ``cProfile.Profile``, enabled only
while that stage runs on that thread (a per-thread stack handles nested stages: the inner one pauses the outer),
so each function's time lands in the stage that ran it, whichever worker ran it. Merged they make one .prof file.

sightspeed's own frames are never hotspots: the executor's, the profiler's (``sightspeed/profiling/``,
``profiler.py``, ``magic.py``), the NVTX and ITT mirrors' (``nvtx``, ``ittapi``) and ``contextlib``'s (``with
profile()``) are left out of :meth:`Hotspots.top`, and so is the own time of any function those frames called (the
clocks and ``getrusage`` behind a span, the profiler's ``disable``), so a stage shows only what its code spent.
"""

from __future__ import annotations

import cProfile
import contextlib
import os
import pstats
import re
import threading
from typing import Any

# Frames of sightspeed's own instrumentation (matched on "/"-separated paths): what a stage costs to measure
_INSTRUMENTATION = ("/sightspeed/profiling/", "/sightspeed/profiler.py", "/sightspeed/magic.py", "/nvtx/", "/ittapi/")
# The executor's frames are left out too, but what they call is the stage's own work (the user's function)
_EXECUTOR = "/sightspeed/pipeline/executors.py"
_CONTEXTLIB = os.path.abspath(contextlib.__file__).replace("\\", "/")


class Hotspots:
    """An instrument for Session.instruments: ``begin(stage)`` / ``end(stage)`` on the running thread."""

    def __init__(self) -> None:
        self._profiles: dict[tuple[int, str], cProfile.Profile] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self.unavailable: str | None = None

    def _stack(self) -> list[cProfile.Profile]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def begin(self, stage: str) -> None:
        stack = self._stack()
        if stack:
            stack[-1].disable()
        key = (threading.get_ident(), stage)
        with self._lock:
            prof = self._profiles.get(key)
            if prof is None:
                prof = self._profiles[key] = cProfile.Profile()
        stack.append(prof)  # before enable: the stage's profile starts at the last moment
        try:
            prof.enable()
        except ValueError as exc:  # Python >= 3.12: one profiler per process (sys.monitoring)
            self.unavailable = str(exc)

    def end(self, stage: str) -> None:
        """Stop the stage's profile. The enclosing one stays paused until :meth:`resume`, so the span's own
        bookkeeping (recording it) is charged to nobody."""
        stack = self._stack()
        if stack:
            stack.pop().disable()

    def resume(self) -> None:
        stack = self._stack()
        if stack:
            try:
                stack[-1].enable()
            except ValueError:
                pass

    def stats(self, stage: str | None = None) -> pstats.Stats | None:
        """Merged stats of one stage (all threads), or of everything."""
        stats = None
        with self._lock:
            profiles = [p for (_, s), p in self._profiles.items() if stage is None or s == stage]
        for prof in profiles:
            prof.create_stats()
            if not prof.stats:
                continue
            if stats is None:
                stats = pstats.Stats(prof)
            else:
                stats.add(prof)
        return stats

    def stages(self) -> list[str]:
        return list(dict.fromkeys(s for _, s in self._profiles))

    def top(self, stage: str, n: int = 3) -> list[dict[str, Any]]:
        """The ``n`` functions with the most own time in ``stage``, as dicts (function, where, own_ms, share);
        the first row's ``python_share`` says how much of the stage's own time was in Python-level frames.
        sightspeed's own frames, and the time of what they called, are left out (see the module docstring)."""
        stats = self.stats(stage)
        if stats is None:
            return []
        rows = []
        total = 0.0
        python = 0.0
        for (file, line, func), (_, ncalls, tottime, _, callers) in stats.stats.items():
            if instrumentation(file) or _EXECUTOR in file.replace("\\", "/"):
                continue
            measuring = [edge for caller, edge in callers.items() if instrumentation(caller[0])]
            if measuring:  # called (also) by the instrumentation: only the calls from elsewhere are the stage's
                ncalls -= sum(edge[1] for edge in measuring)
                tottime -= sum(edge[2] for edge in measuring)
                if ncalls <= 0:
                    continue
                tottime = max(0.0, tottime)
            total += tottime
            if file != "~":
                python += tottime
            rows.append((tottime, ncalls, file, line, func))
        rows.sort(reverse=True)
        out = []
        for tottime, ncalls, file, line, func in rows[:n]:
            where = "builtin" if file == "~" else f"{_short(file)}:{line}"
            out.append({"function": label(func) if file == "~" else func, "where": where, "calls": ncalls, "own_ms": 1000 * tottime,
                        "share": tottime / total if total else 0.0})
        if out:
            out[0]["python_share"] = python / total if total else 0.0
        return out

    def dump(self, path: str | os.PathLike[str]) -> bool:
        stats = self.stats()
        if stats is None:
            return False
        stats.dump_stats(str(path))
        return True


def instrumentation(file: str) -> bool:
    """Whether a cProfile frame's file is sightspeed measuring itself (its profiler, the NVTX / ITT mirrors,
    ``contextlib``'s ``with`` plumbing), never a hotspot of the code it measures.

    >>> instrumentation("/x/site-packages/sightspeed/profiling/scope.py"), instrumentation("/x/nvtx/nvtx.py")
    (True, True)
    >>> instrumentation(contextlib.__file__), instrumentation("/home/me/app.py"), instrumentation("~")
    (True, False, False)
    """
    path = file.replace("\\", "/")
    return path == _CONTEXTLIB or any(part in path for part in _INSTRUMENTATION)


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    for anchor in ("site-packages", "sightspeed", "src"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) + 1:])
    return "/".join(parts[-2:])


def label(func: str) -> str:
    """A short name for a C function as cProfile spells it.

    >>> label("<built-in method ai_edge_litert._pywrap_litert_interpreter_wrapper.Invoke>")
    'Invoke (ai_edge_litert)'
    >>> label("<method 'read' of '_io.BufferedReader' objects>"), label("<imdecode>")
    ('_io.BufferedReader.read', 'imdecode')
    """
    m = re.fullmatch(r"<method '(\w+)' of '([\w.]+)' objects>", func)
    if m:
        return f"{m.group(2)}.{m.group(1)}"
    m = re.fullmatch(r"<built-in method ([\w.]+)>", func)
    if m:
        parts = m.group(1).split(".")
        return f"{parts[-1]} ({parts[0]})" if len(parts) > 1 else parts[0]
    return func.strip("<>")


def python_share(hotspots: list[dict[str, Any]]) -> float | None:
    return hotspots[0].get("python_share") if hotspots else None
