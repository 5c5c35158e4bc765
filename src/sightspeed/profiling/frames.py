"""What a sampled frame is (for :mod:`.sampler`): the user's line and the expression running in it, and the kind
of work its leaf is doing (numpy/OpenCV, file I/O, plain Python, waiting, other native code), read statically from the
code object and the source, never from the thread's variables; and the breakdown of a run's time by that kind."""

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

from .hotspots import _CONTEXTLIB, instrumentation

# benchmarks/sampler_overhead.py (docs/benchmarks.md): +2.6% to +3.6% wall (paired medians, 40 rounds, three runs on
# a shared 2-vCPU VM) where cProfile costs +66-85%; the <= 3% target is met in one run of three
DEFAULT_INTERVAL = 0.005
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
    an installed package, the rest of sightspeed; USER (2): the user's code, and code with no file (``<string>``:
    the sampler asks :func:`fileless_kind` about its frames); PLUMBING (3): ``contextlib`` and ``threading``, whose
    frames are never a hotspot either.

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


def fileless_kind(frame: Any, kind_of: Any = file_kind) -> int:
    """The kind of a frame whose code has no file (``<string>``: exec'd or generated), which :func:`file_kind`
    calls USER: a program (``python -c``, the module of an exec) is the user's; a function run by sightspeed's own
    code is OURS (the profiler's bookkeeping, e.g. the ``__init__`` dataclasses generates for a Span); one generated
    by ``dataclasses`` for anyone else is LIBRARY, so the time goes to the user's line that made the object (in
    ``-c`` mode ``<string>``'s lines are the user's program, never the generated code's). ``kind_of``: a file's
    kind (the sampler's cached :func:`file_kind`).

    >>> import dataclasses
    >>> Point = dataclasses.make_dataclass("Point", ["x"])
    >>> code = Point.__init__.__code__
    >>> frame = type("Frame", (), {"f_code": code, "f_back": sys._getframe()})()
    >>> code.co_filename, fileless_kind(frame) == LIBRARY
    ('<string>', True)
    """
    code = frame.f_code
    if code.co_name == "<module>":
        return USER
    caller = frame.f_back
    if caller is not None and caller.f_code not in CALLS_THROUGH and kind_of(caller.f_code.co_filename) == OURS:
        return OURS
    return LIBRARY if "__create_fn__" in getattr(code, "co_qualname", "") else USER


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
    outside those stages). Each entry: wall_s, cpu_s (None where not measured), share of the total wall, and
    ``unstaged_s``: the sampled wall outside every stage (not in the user's own stages either: see
    :meth:`.sampler.Sampler.categories`)."""
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
            entry["unstaged_s"] = sampled[cat].get("unstaged_s", 0.0)
    total = sum(e["wall_s"] for e in out.values())
    for entry in out.values():
        entry["share"] = entry["wall_s"] / total if total else 0.0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["wall_s"]))
