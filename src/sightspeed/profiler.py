"""``sightspeed profile``: run a task or a Python program under the profiler and write what it found.

This module sits above ``pipeline`` and ``profiling`` (it runs the one under the other), so neither imports it.

Outputs in the profile folder: ``session.json`` (everything; ``sightspeed report`` re-renders it),
``trace.json`` (Chrome trace / Perfetto), ``stages.prof`` (cProfile, merged over threads; pstats / snakeviz).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any

from .profiling import doctor, machine
from .profiling.instruments import PerfCounters
from .profiling.scope import profile
from .profiling.session import Session
from .profiling.trace import write_chrome_trace
from .samples import local_sample_paths


def describe_machine(ceilings: str = "measure") -> dict[str, Any]:
    """What a Session records about this machine: :func:`sightspeed.profiling.doctor.report` (the host's CPU,
    memory and OS from :mod:`sightspeed.host`, plus numpy, OpenCV, runtimes, compilers, GPUs) and its ceilings.

    ``ceilings``: ``"measure"`` (cached, else measured now, a few seconds), ``"refresh"`` (measured now),
    ``"cached"`` (only if cached: never measures), ``"none"``.
    """
    if ceilings not in ("measure", "refresh", "cached", "none"):
        raise ValueError(f"ceilings must be measure, refresh, cached or none, not {ceilings!r}")
    described = doctor.report()
    found = (machine.cached_ceilings() if ceilings == "cached" else None if ceilings == "none" else
             machine.ceilings(refresh=ceilings == "refresh", photos=local_sample_paths()))
    if found:
        described["ceilings"] = found
    return described


def new_session(config: dict[str, Any] | None = None, refresh_ceilings: bool = False,
                ceilings: str | None = None) -> Session:
    """A Session carrying this machine's description and its ceilings (see :func:`describe_machine`; default:
    cached or measured now, ``refresh_ceilings``: measured now)."""
    mode = ceilings or ("refresh" if refresh_ceilings else "measure")
    return Session(config=dict(config or {}), machine=describe_machine(mode))


def profile_run(pipeline, inputs: list[str], out_dir: str | os.PathLike[str], session: Session | None = None,
                perf: bool = True, **run_kwargs: Any):
    """``sightspeed.run`` under the profiler: hotspots per stage across worker threads, NVTX/ITT mirrors, perf
    software counters. Returns the RunResult; its session is complete (write it with :func:`write_outputs`)."""
    from .pipeline.run import run

    session = session or new_session()
    _codec_ceilings_from(inputs, session)
    counter = PerfCounters().start() if perf else None
    with profile(session=session, base=None):
        result = run(pipeline, inputs, out_dir, session=session, **run_kwargs)
    if counter is not None:
        session.counters.update({f"perf.{k}": v for k, v in counter.stop().items()})
    return result


def _codec_ceilings_from(inputs: list[str], session: Session, count: int = 3) -> None:
    """Re-measure the JPEG codec ceilings on a few of the run's own JPEGs (a fraction of a second): codec speed
    depends on the content, and the run's images are what its decode stage is held to."""
    from .io.sources import expand

    found = session.machine.get("ceilings")
    if not found:
        return
    jpegs = [s.path for s in expand(inputs) if s.problem is None and s.kind == "image"
             and s.path.lower().endswith((".jpg", ".jpeg"))][:count]
    if jpegs:
        session.machine["ceilings"] = {**found, **machine.jpeg_rates(jpegs, repeats=3, label="of the run's JPEGs")}


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
