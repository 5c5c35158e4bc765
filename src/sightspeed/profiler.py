"""``sightspeed profile``: run a task or a Python program under the profiler and write what it found.

This module sits above ``pipeline`` and ``profiling`` (it runs the one under the other), so neither imports it.

Outputs in the profile folder: ``session.json`` (everything; ``sightspeed report`` re-renders it),
``trace.json`` (Chrome trace / Perfetto), ``stages.prof`` (cProfile, merged over threads; pstats / snakeviz).
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import runpy
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SightspeedError, user_traceback
from .profiling import doctor, machine
from .profiling.implicit import Implicit
from .profiling.instruments import PerfCounters
from .profiling.frames import DEFAULT_INTERVAL, breakdown
from .profiling.sampler import Sampler
from .profiling.scope import profile as scope_profile
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
    from .gpu_paths import paths as gpu_paths

    described = {**doctor.report(), "gpu_paths": gpu_paths()}
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
                perf: bool = True, hotspots: str | None = "calls", interval: float = DEFAULT_INTERVAL,
                **run_kwargs: Any):
    """``sightspeed.run`` under the profiler: hotspots per stage across worker threads (``hotspots``: "calls",
    cProfile's functions; "lines", the sampler's lines, see :func:`profile`), NVTX/ITT mirrors, perf software
    counters. Returns the RunResult; its session is complete (write it with :func:`write_outputs`)."""
    from .pipeline.run import run

    session = session or new_session()
    _codec_ceilings_from(inputs, session)
    counter = PerfCounters().start() if perf else None
    with profile(hotspots=hotspots, base=None, session=session, interval=interval):
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


class ScriptNotFound(SightspeedError, ValueError):
    """The script or module to profile does not exist (a usage error: the CLI prints the message, exits 2)."""


@dataclass
class ScriptResult:
    """What :func:`profile_script` ran: the ``session`` (complete even when the program raised, exited or was
    interrupted: write it and render it as usual), the program's exit ``code`` (``sys.exit(n)``: n; an exception:
    1; Ctrl-C: 130) and the ``traceback`` to print after the report (the user's frames only, the way Python prints
    it; the message of ``sys.exit("message")``; None when there is nothing to say). Unpacks as
    ``session, code = profile_script(...)``."""

    session: Session
    code: int = 0
    traceback: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.session, self.code))


@contextmanager
def profile(hotspots: str | bool | None = "lines", implicit: bool = False, base: str | None = "(main)",
            session: Session | None = None, interval: float = DEFAULT_INTERVAL, mirrors: bool = True,
            top_lines: int = 10, stage_items: int = 1) -> Iterator[Session]:
    """:func:`sightspeed.profile` with a choice of hotspots: ``"lines"`` (a sampler every ``interval`` seconds:
    the top lines of each stage, with the expression's columns, in ``session.lines``; the top functions in
    ``session.hotspots``; thread time by category in ``session.breakdown``), ``"calls"`` (cProfile per stage and
    thread, as :func:`sightspeed.profiling.scope.profile`; True means it too) or None / False (spans only).
    ``implicit``: image codec and model calls outside any stage become stages of their own
    (:mod:`sightspeed.profiling.implicit`), unwrapped when the block ends. ``stage_items``: what a ``stage()``
    without ``items=`` counts per call (see :func:`sightspeed.profiling.scope.profile`).

    >>> with profile(interval=0.001) as session:
    ...     total = sum(i * i for i in range(1_000_000))
    >>> session.config["hotspots"], list(session.lines), session.counters["samples"] > 0
    ('lines', ['(main)'], True)
    """
    mode = ("calls" if hotspots else None) if isinstance(hotspots, bool) else hotspots
    if mode not in ("lines", "calls", None):
        raise ValueError(f"hotspots must be 'lines', 'calls' or None, not {hotspots!r}")
    session = session if session is not None else Session()
    sampler = Sampler(interval, base) if mode == "lines" else None
    wraps = Implicit() if implicit else None
    started, held = False, _HeldInterrupts()
    try:
        with scope_profile(hotspots=mode == "calls", mirrors=mirrors, base=base, session=session,
                           stage_items=stage_items):
            started = True
            session.instruments.extend(x for x in (sampler, wraps) if x is not None)
            if wraps is not None:
                wraps.install()
            if sampler is not None:
                sampler.start()
            try:
                yield session
            finally:
                held.hold()  # from here to the end of _finish, a Ctrl-C waits: the session is finished whole
                if sampler is not None:
                    sampler.stop()
                if wraps is not None:
                    wraps.uninstall()
    finally:
        try:
            if started:  # (not when another profile was active: that error is all there is to say)
                _finish(session, mode, sampler, wraps, interval, top_lines)
        finally:
            held.release()


class _HeldInterrupts:
    """Ctrl-C (SIGINT) and SIGTERM held from :meth:`hold` to :meth:`release`, then delivered again to the
    handlers there were (Ctrl-C raises KeyboardInterrupt there): a profile being finished or written is never cut
    half-way, however often the user presses Ctrl-C. The main thread only (the one Python's handlers run in)."""

    def __init__(self) -> None:
        self.came: list[int] = []
        self._previous: dict[int, Any] = {}

    def hold(self) -> _HeldInterrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(sig)
                if handler is not None:  # (None: a handler not set from Python, left alone)
                    self._previous[sig] = handler
                    signal.signal(sig, lambda signum, frame: self.came.append(signum))
        return self

    def release(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        came, self.came = self.came, []
        for sig in dict.fromkeys(came):
            signal.raise_signal(sig)

    def __enter__(self) -> _HeldInterrupts:
        return self.hold()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _finish(session: Session, mode: str | None, sampler: Sampler | None, wraps: Implicit | None, interval: float,
            top_lines: int) -> None:
    """What a profile leaves in its session once its block ends: the models' FLOPs, the lines, the breakdown."""
    session.config["hotspots"] = mode or "none"
    if wraps is not None:
        wraps.finish(session)
    if sampler is not None:
        stages = dict(wraps.stages) if wraps is not None else {}
        session.lines = sampler.lines(top_lines)
        if not session.hotspots:
            session.hotspots = sampler.functions()
        session.breakdown = breakdown(sampler.categories(exclude=set(stages)), session, stages)
        session.config["sample_interval_s"] = interval
        session.counters["samples"] = sampler.samples
        if sampler.failed:
            session.counters["samples_failed"] = sampler.failed


def profile_script(argv: list[str], session: Session | None = None, perf: bool = True,
                   hotspots: str | None = "lines", implicit: bool = True,
                   interval: float = DEFAULT_INTERVAL) -> ScriptResult:
    """Run a Python program in this process under the profiler: ``['script.py', args...]``, ``['-m', 'module',
    args...]`` or ``['-c', 'code', args...]``. Its ``sightspeed.stage`` blocks become stages, the rest of its main
    thread is ``(script)``; ``hotspots`` and ``implicit`` as in :func:`profile` (here: the top lines, and image
    codec / model calls as stages of their own). Its stages count calls, not items, unless a block says
    ``items=N``: the report then shows calls and times per stage, and items/s only where items were counted.

    However the program ends (normally, ``sys.exit``, an exception, Ctrl-C), the result holds the session of what
    ran, the exit code and the traceback (:class:`ScriptResult`). A script or module that does not exist raises
    :class:`ScriptNotFound` before anything runs.
    """
    kind, target = check_program(argv)
    session = session or new_session()
    session.config.update({"pipeline": "-c" if kind == "-c" else target, "program": " ".join(argv)})
    old_argv, old_path = sys.argv[:], sys.path[:]
    sys.argv = argv[:] if kind == "script" else [argv[0] if kind == "-c" else target, *argv[2:]]
    sys.path.insert(0, str(Path(target).resolve().parent) if kind == "script" else "" if kind == "-c" else os.getcwd())
    cached_source = linecache.cache.get("<string>")
    try:
        if kind == "-c":  # so the sampler and tracebacks can show its lines
            linecache.cache["<string>"] = (len(target), None, target.splitlines(True), "<string>")
        counter = PerfCounters().start() if perf else None
        result = ScriptResult(session)
        try:
            with profile(hotspots=hotspots, implicit=implicit, base="(script)", session=session, interval=interval,
                         stage_items=0):
                try:
                    if kind == "-m":
                        runpy.run_module(target, run_name="__main__", alter_sys=True)
                    elif kind == "-c":
                        _run_code(target)
                    else:
                        runpy.run_path(target, run_name="__main__")
                except SystemExit as exc:
                    result.code, result.traceback = _exit_status(exc.code)
                except KeyboardInterrupt as exc:
                    result.code, result.traceback = 130, _traceback(exc)
                except Exception as exc:  # noqa: BLE001 - the program's own failure: reported after its profile
                    result.code, result.traceback = 1, _traceback(exc)
        except KeyboardInterrupt:  # Ctrl-C while the profile was being finished: it is whole, the program is over
            if not result.code:
                result.code, result.traceback = 130, "KeyboardInterrupt"
        if counter is not None:
            session.counters.update({f"perf.{k}": v for k, v in counter.stop().items()})
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        if cached_source is None:
            linecache.cache.pop("<string>", None)
        else:
            linecache.cache["<string>"] = cached_source
    return result


def check_program(argv: list[str]) -> tuple[str, str]:
    """(kind: ``script``, ``-m`` or ``-c``; the script, module or code) of a program :func:`profile_script` can run;
    ValueError (:class:`ScriptNotFound` where it does not exist) before anything runs or is measured.

    >>> check_program(["-c", "print(1)"])
    ('-c', 'print(1)')
    """
    if not argv:
        raise ValueError("nothing to profile: give a script, e.g. sightspeed profile -- python app.py")
    kind = argv[0] if argv[0] in ("-m", "-c") else "script"
    if kind != "script" and len(argv) < 2:
        raise ValueError("-m needs a module name" if kind == "-m" else "-c needs the code to run")
    if kind == "script" and argv[0].startswith("-"):
        raise ValueError(f"python option {argv[0]} is not supported here: give SCRIPT.py, -m MODULE or -c CODE")
    target = argv[0] if kind == "script" else argv[1]
    if kind == "script" and not Path(target).is_file():
        raise ScriptNotFound(f"no such script: {target}" if not Path(target).exists() else f"not a file: {target}")
    if kind == "-m":  # found from the current folder, as `python -m` finds it
        old_path = sys.path[:]
        sys.path.insert(0, os.getcwd())
        try:
            _check_module(target)
        finally:
            sys.path[:] = old_path
    return kind, target


def _check_module(name: str) -> None:
    """ScriptNotFound unless ``name`` is a module that can be found (finding ``a.b`` imports ``a``; anything that
    import raises is the program's own failure, reported when it runs)."""
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        found = None
    except Exception:  # noqa: BLE001 - the package exists but raised: let the run show it
        return
    if found is None:
        raise ScriptNotFound(f"no module named {name}")


def _run_code(code: str) -> None:
    """``python -c code``: run in a fresh ``__main__`` module, as Python does."""
    import builtins
    import types

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    previous = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(compile(code, "<string>", "exec"), main.__dict__)
    finally:
        if previous is not None:
            sys.modules["__main__"] = previous


def _exit_status(code: Any) -> tuple[int, str | None]:
    """What ``sys.exit(code)`` means: (exit code, the message Python would print).

    >>> _exit_status(None), _exit_status(5), _exit_status("bad input")
    ((0, None), (5, None), (1, 'bad input'))
    """
    if code is None:
        return 0, None
    if isinstance(code, int):
        return code, None
    return 1, str(code)


def _traceback(exc: BaseException) -> str:
    """The program's traceback, the way Python prints it, without the frames that ran it (runpy, sightspeed)."""
    tb = exc.__traceback__
    while tb is not None and _runner(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return user_traceback(exc.with_traceback(tb))


def _runner(filename: str) -> bool:
    return filename == runpy.__file__ or filename.startswith("<frozen runpy") or \
        os.path.abspath(filename).startswith(os.path.dirname(os.path.abspath(__file__)) + os.sep)


def write_outputs(session: Session, folder: str | os.PathLike[str]) -> dict[str, str]:
    """session.json, trace.json and (when hotspots were collected) stages.prof into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _HeldInterrupts():  # a Ctrl-C meanwhile waits for the files to be whole, then raises KeyboardInterrupt
        written = {"session": str(session.save(folder / "session.json")),
                   "trace": str(write_chrome_trace(session, folder / "trace.json"))}
        if session.profiler is not None and session.profiler.dump(folder / "stages.prof"):
            written["cprofile"] = str(folder / "stages.prof")
    return written
