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
On benchmarks/sampler_overhead.py's workload pyinstrument (5 ms) costs +69%, yappi +165%, this sampler +2-4%.

Python threads only: a runtime's native pool threads have no Python frames (their CPU is in each span's ``cpu``,
:mod:`.cpu`). A thread running Python bytecode holds the GIL, so the sampler waits for it (up to the switch interval,
5 ms): on pure-Python code samples come about every ``interval + 5 ms``; each is weighted by the time it covers.
"""

from __future__ import annotations

import ast
import dis
import linecache
import os
import sys
import sysconfig
import threading
import time
import types
from typing import Any

from .hotspots import _CONTEXTLIB, _short, instrumentation

DEFAULT_INTERVAL = 0.005  # benchmarks/sampler_overhead.py: +2.1% wall (median, 40 rounds) where cProfile costs +85%
ARRAY, IO, PYTHON, WAITING, OTHER = "numpy/OpenCV", "file I/O", "plain Python", "waiting", "other native code"
CATEGORIES = (ARRAY, IO, PYTHON, WAITING, OTHER)
WAITING_CPU = 0.3  # a thread caught in a call that got less of a core than this since its previous sample: blocked
_LINUX_CLOCKS = sys.platform.startswith("linux") and hasattr(time, "clock_gettime")

_THREADING = os.path.abspath(threading.__file__).replace("\\", "/")
OURS, LIBRARY, USER, PLUMBING = 0, 1, 2, 3  # file kinds (file_kind)
# code objects of sightspeed's own that call the user's (or a library's) function: inside one, the time is the
# call's, not the profiler's (profiling.implicit's call of a wrapped function adds its own)
CALLS_THROUGH: set = set()
_CACHE = dis.opmap.get("CACHE", -1)
_CALL_OPS = {"PRECALL", "CALL", "CALL_FUNCTION_EX", "CALL_KW", "CALL_INTRINSIC_1", "CALL_INTRINSIC_2"}
# where a thread running bytecode hands the GIL over (the eval breaker): caught there, it was running Python
_RUNNING_OPS = {"RESUME", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "RESUME_CHECK"}
# operators: caught inside one, the thread had released the GIL in native code (numpy does, on arrays)
_OPERATOR_OPS = {"BINARY_OP", "BINARY_SUBSCR", "STORE_SUBSCR", "COMPARE_OP", "UNARY_NEGATIVE", "UNARY_INVERT",
                 "BINARY_SLICE", "STORE_SLICE", "CONTAINS_OP"}
_ARRAY_ROOTS = {"numpy", "cv2", "scipy", "skimage", "PIL", "simplejpeg", "numexpr", "numba", "cupy", "kornia",
                "albumentations", "albucore", "torch", "sightspeed.kernels"}
_IO_ROOTS = {"io", "_io", "_pyio", "os", "posix", "posixpath", "ntpath", "shutil", "pathlib", "tempfile", "zipfile",
             "tarfile", "gzip", "bz2", "lzma", "glob", "mmap", "fileinput"}
_WAIT_ROOTS = {"threading", "_thread", "queue", "_queue", "selectors", "select", "socket", "_socket", "ssl",
               "asyncio", "concurrent", "multiprocessing", "subprocess"}
_IO_NAMES = {("builtins", "open"), ("numpy", "load"), ("numpy", "save"), ("numpy", "fromfile"), ("numpy", "loadtxt"),
             ("numpy", "savetxt"), ("numpy", "savez"), ("numpy", "memmap")}
_WAIT_NAMES = {("time", "sleep"), ("builtins", "input")}
# a method called on a local variable (not resolvable without reading the thread's locals): judged by its name
_IO_METHODS = {"read", "readinto", "readline", "readlines", "write", "writelines", "flush", "read_bytes",
               "read_text", "write_bytes", "write_text", "tofile"}
_WHERE: dict[tuple, tuple] = {}
_FILES: dict[str, int] = {}
_CACHE_LIMIT = 200_000
_NAMED = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)
_WAIT_METHODS = {"acquire", "wait", "join", "result", "recv", "recv_into", "accept", "select", "poll", "get"}


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
            kind = self._kind(leaf.f_code.co_filename)
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
        while user is not None and self._kind(user.f_code.co_filename) != USER:
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
        """Sampled thread time by category, the stages in ``exclude`` left out: {category: {wall_s, cpu_s}}."""
        out: dict[str, dict[str, float]] = {}
        for (stage, cat), (wall, cpu) in self._categories.items():
            if stage not in exclude:
                entry = out.setdefault(cat, {"wall_s": 0.0, "cpu_s": 0.0})
                entry["wall_s"] += wall
                entry["cpu_s"] += cpu
        return out


def line_row(file: str, line: int, function: str, row: list, total: float) -> dict[str, Any]:
    """One row of ``Session.lines``: file, line, function, the source line (stripped), the columns of its most
    sampled expression in that text ([start, end), None where unknown), samples, sampled seconds, share of the
    stage, the line's CPU seconds and its most sampled category."""
    wall, cpu, n, cols, cats = row
    raw = linecache.getline(file, line).rstrip("\r\n")
    text = raw.strip()
    columns = None
    best = max(cols, key=cols.get) if cols else None
    if text and best and best[0] is not None:
        start, end_line, end = best
        indent = len(raw) - len(raw.lstrip())
        first = _chars(raw, start) - indent
        last = len(text) if end_line != line or end is None else _chars(raw, end) - indent
        if 0 <= first < last <= len(text):
            columns = [first, last]
    return {"file": display_path(file), "line": line, "function": function, "code": text, "columns": columns,
            "samples": n, "seconds": wall, "cpu_s": cpu, "share": wall / total if total else 0.0,
            "category": max(cats, key=cats.get) if cats else PYTHON}


def _chars(text: str, byte_offset: int) -> int:
    """A UTF-8 byte offset (what ``co_positions`` gives) as a character offset into ``text``."""
    return len(text.encode()[:byte_offset].decode("utf-8", "replace"))


def display_path(file: str) -> str:
    """The path relative to the working directory when under it, else as it is (``<string>`` stays)."""
    if file.startswith("<"):
        return file
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return file
    return file if rel.startswith("..") else rel


_LIBRARY_DIRS: tuple[str, ...] | None = None
_SIGHTSPEED = os.path.dirname(os.path.dirname(os.path.abspath(__file__))).replace("\\", "/") + "/"


def file_kind(filename: str) -> int:
    """OURS (0): sightspeed's own instrumentation (hotspots.instrumentation); LIBRARY (1): the standard library,
    an installed package, the rest of sightspeed; USER (2): the user's code; PLUMBING (3): ``contextlib`` and
    ``threading``, whose frames are never a hotspot either.

    >>> file_kind(threading.__file__), file_kind(os.__file__), file_kind("/home/me/app.py"), file_kind("<string>")
    (3, 1, 2, 2)
    """
    global _LIBRARY_DIRS
    path = filename.replace("\\", "/")
    if path in (_THREADING, _CONTEXTLIB):
        return PLUMBING
    if instrumentation(path):
        return OURS
    if _LIBRARY_DIRS is None:
        paths = sysconfig.get_paths()
        dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
        _LIBRARY_DIRS = tuple(os.path.abspath(d).replace("\\", "/") + "/" for d in dirs)
    if (path.startswith("<frozen") or "/site-packages/" in path or "/dist-packages/" in path
            or path.startswith(_SIGHTSPEED) or os.path.abspath(path).replace("\\", "/").startswith(_LIBRARY_DIRS)):
        return LIBRARY
    return USER


def where(code: Any, lasti: int, f_globals: dict, kind: int) -> tuple[int, tuple, str, bool]:
    """(line, (start col, end line, end col), category, whether it is a call) of instruction ``lasti`` of
    ``code``. Only a thread caught in a call can be blocked: one caught where bytecode hands the GIL over was
    running Python (if it got little CPU, it waited for the GIL or a core, not for an event)."""
    line, end_line, col, end_col = None, None, None, None
    if lasti >= 0 and hasattr(code, "co_positions"):
        for k, pos in enumerate(code.co_positions()):
            if k == lasti // 2:
                line, end_line, col, end_col = pos
                break
    if line is None:
        line = next((ln for start, ln in dis.findlinestarts(code) if start <= lasti and ln), code.co_firstlineno)
    raw = code.co_code
    while 0 < lasti < len(raw) and raw[lasti] == _CACHE:  # a caller's frame stops in its call's inline cache
        lasti -= 2
    op = dis.opname[raw[lasti]] if 0 <= lasti < len(raw) else ""
    in_call = op in _CALL_OPS or op.startswith(("CALL", "PRECALL"))
    return line, (col, end_line, end_col), category(code, op, (line, end_line, col, end_col), f_globals, kind), in_call


def category(code: Any, op: str, pos: tuple, f_globals: dict, kind: int) -> str:
    """What a thread caught at instruction ``op`` of ``code`` was doing (the module docstring's categories)."""
    module = _root(str(f_globals.get("__name__", "")))
    if kind == LIBRARY and module in _ARRAY_ROOTS | _IO_ROOTS | _WAIT_ROOTS:  # inside such a library, it is that
        return _of_module(module, "")
    if op in _CALL_OPS or op.startswith(("CALL", "PRECALL")):
        name = callee(code.co_filename, pos)
        return _of_name(name, f_globals) if name else OTHER
    if op in _OPERATOR_OPS:
        return ARRAY
    if op in _RUNNING_OPS or kind == USER or module in sys.stdlib_module_names:
        return PYTHON
    return OTHER


def _root(module: str) -> str:
    return "sightspeed.kernels" if module.startswith("sightspeed.kernels") else module.split(".")[0]


def _of_module(module: str, name: str) -> str:
    if (module, name) in _IO_NAMES:
        return IO
    if (module, name) in _WAIT_NAMES:
        return WAITING
    if module in _ARRAY_ROOTS:
        return ARRAY
    if module in _IO_ROOTS:
        return IO
    if module in _WAIT_ROOTS:
        return WAITING
    if module == "builtins" or module in sys.stdlib_module_names:
        return PYTHON
    return OTHER


def _of_name(name: tuple[str, ...], f_globals: dict) -> str:
    """The category of calling the dotted ``name``: its head looked up in the frame's globals (then builtins), the
    rest followed through modules only (a module's ``__dict__``: no ``__getattr__``, no code of the user runs)."""
    import builtins

    head, rest = name[0], list(name[1:])
    obj = f_globals.get(head, builtins.__dict__.get(head)) if head else None
    if obj is None:  # a local variable's method: judged by the method's name
        method = rest[-1] if rest else ""
        if method in _IO_METHODS:
            return IO
        if method in _WAIT_METHODS:
            return WAITING
        np = sys.modules.get("numpy")
        return ARRAY if np is not None and method and hasattr(np.ndarray, method) else OTHER
    owner = ""  # the last module walked through: the home of a function that does not name its own (cv2's)
    while rest and isinstance(obj, type(sys)):
        owner = obj.__name__
        nxt = obj.__dict__.get(rest[0])
        if nxt is None:
            break
        obj = nxt
        rest.pop(0)
    if isinstance(obj, type(sys)):
        return _of_module(_root(obj.__name__), rest[0] if rest else "")
    if isinstance(obj, types.FunctionType):  # a wrapper (functools.wraps): what it wraps
        obj = obj.__dict__.get("__wrapped__", obj)
    if isinstance(obj, _NAMED):  # functions and classes know their module
        return _of_module(_root(obj.__module__ or owner), obj.__name__)
    return _of_module(_root(type(obj).__module__), "")  # any other object: its class's (a numpy ufunc: numpy)


def callee(filename: str, pos: tuple) -> tuple[str, ...] | None:
    """The dotted name a call expression calls, from its source text at ``pos`` (line, end line, col, end col):
    ``("cv2", "resize")``; ``("", "astype")`` for a method of something that is not a name."""
    line, end_line, col, end_col = pos
    if line is None or end_line is None or col is None or end_col is None:
        return None
    lines = linecache.getlines(filename)
    if not lines or end_line > len(lines):
        return None
    chunk = [s.encode() for s in lines[line - 1:end_line]]
    chunk[-1] = chunk[-1][:end_col]
    chunk[0] = chunk[0][col:] if len(chunk) > 1 else chunk[0][col:end_col]
    try:
        node = ast.parse(b"(" + b"".join(chunk) + b")", mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if not isinstance(node, ast.Call):
        return None
    func, names = node.func, []
    while isinstance(func, ast.Attribute):
        names.append(func.attr)
        func = func.value
    names.append(func.id if isinstance(func, ast.Name) else "")
    return tuple(reversed(names))


def breakdown(sampled: dict[str, dict[str, float]], session: Any,
              implicit: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Thread time by category (``Session.breakdown``): the implicit spans' stages by their category (wall and CPU
    from their spans, pool threads included; ``stages`` names them), plus the sampled categories (their samples
    outside those stages). Each entry: wall_s, cpu_s (None where not measured), share of the total wall."""
    out: dict[str, dict[str, Any]] = {}
    for stage, cat in (implicit or {}).items():
        totals = session.totals.get(stage)
        if totals is None or not totals.calls:
            continue
        entry = out.setdefault(cat, {"wall_s": 0.0, "cpu_s": 0.0, "stages": []})
        entry["wall_s"] += totals.total_s
        entry["cpu_s"] += totals.cpu_s
        entry["stages"].append(stage)
    for cat in CATEGORIES:
        if cat in sampled and sampled[cat]["wall_s"] > 0:
            entry = out.setdefault(cat, {"wall_s": 0.0, "cpu_s": 0.0})
            entry["wall_s"] += sampled[cat]["wall_s"]
            entry["cpu_s"] = entry["cpu_s"] + sampled[cat]["cpu_s"] if _LINUX_CLOCKS else None
    total = sum(e["wall_s"] for e in out.values())
    for entry in out.values():
        entry["share"] = entry["wall_s"] / total if total else 0.0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["wall_s"]))
