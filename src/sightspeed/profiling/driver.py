"""``sightspeed profile``: run a task or a Python program under the profiler and write what it found.

Outputs in the profile folder: ``session.json`` (everything; ``sightspeed report`` re-renders it),
``trace.json`` (Chrome trace / Perfetto), ``stages.prof`` (cProfile, merged over threads; pstats / snakeviz).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any

from . import doctor, machine
from .instruments import PerfCounters
from .scope import profile
from .session import Session
from .trace import write_chrome_trace


def new_session(config: dict[str, Any] | None = None, refresh_ceilings: bool = False) -> Session:
    """A Session carrying this machine's description and (cached or freshly measured) ceilings."""
    return Session(config=dict(config or {}),
                   machine={"doctor": doctor.report(), "ceilings": machine.ceilings(refresh=refresh_ceilings)})


def profile_run(pipeline, inputs: list[str], out_dir: str | os.PathLike[str], session: Session | None = None,
                perf: bool = True, **run_kwargs: Any):
    """``sightspeed.run`` under the profiler: hotspots per stage across worker threads, NVTX/ITT mirrors, perf
    software counters. Returns the RunResult; its session is complete (write it with :func:`write_outputs`)."""
    from ..pipeline.run import run

    session = session or new_session()
    counter = PerfCounters().start() if perf else None
    with profile(session=session, base=None):
        result = run(pipeline, inputs, out_dir, session=session, **run_kwargs)
    if counter is not None:
        session.counters.update({f"perf.{k}": v for k, v in counter.stop().items()})
    return result


def profile_script(argv: list[str], session: Session | None = None, perf: bool = True) -> tuple[Session, int]:
    """Run a Python program (``['script.py', args...]`` or ``['-m', 'module', args...]``) in this process under
    the profiler; its ``sightspeed.stage`` blocks become stages, the rest of its main thread is ``(script)``.
    Returns the session and the program's exit code."""
    session = session or new_session()
    if not argv:
        raise ValueError("nothing to profile: give a script, e.g. sightspeed profile -- python app.py")
    module = argv[0] == "-m"
    target = argv[1] if module else argv[0]
    if module and len(argv) < 2:
        raise ValueError("-m needs a module name")
    session.config.update({"pipeline": target, "program": " ".join(argv)})
    old_argv, old_path = sys.argv[:], sys.path[:]
    sys.argv = argv[1:] if module else argv[:]
    sys.path.insert(0, os.getcwd() if module else str(Path(target).resolve().parent))
    code = 0
    counter = PerfCounters().start() if perf else None
    try:
        with profile(session=session, base="(script)"):
            try:
                if module:
                    runpy.run_module(target, run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(target, run_name="__main__")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    if counter is not None:
        session.counters.update({f"perf.{k}": v for k, v in counter.stop().items()})
    return session, code


def write_outputs(session: Session, folder: str | os.PathLike[str]) -> dict[str, str]:
    """session.json, trace.json and (when hotspots were collected) stages.prof into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {"session": str(session.save(folder / "session.json")),
               "trace": str(write_chrome_trace(session, folder / "trace.json"))}
    if session.profiler is not None and session.profiler.dump(folder / "stages.prof"):
        written["cprofile"] = str(folder / "stages.prof")
    return written
