"""Errors meant for people: each names the thing that failed and why."""

from __future__ import annotations

import importlib
from types import ModuleType


class SightspeedError(Exception):
    """Base class of every error sightspeed raises on purpose."""


class MissingDependency(SightspeedError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class InputError(SightspeedError):
    """One input could not be used. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelError(SightspeedError):
    """A model could not be found, fetched, verified or loaded."""


class UnknownTask(SightspeedError, ValueError):
    """TASK names no shipped task and no ``module:function`` that exists (a usage error: the CLI exits 2)."""


class UserCodeError(SightspeedError):
    """The user's own code raised: importing the module of a ``module:function``, or calling the function. What it
    raised is ``__cause__``; :func:`user_traceback` formats it with the user's frames only."""


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (and those of the exceptions chained to it) without sightspeed's own frames and the
    import machinery's: what the user's code did, the way Python prints it (``sightspeed run mymodule:build`` shows
    it when ``build()`` raises; tests/test_first_hour_cli.py runs that).
    """
    import os
    import traceback

    ours = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")

    def users(filename: str) -> bool:
        return not (os.path.abspath(filename).startswith(ours) or filename.startswith("<frozen importlib")
                    or os.path.join("importlib", "__init__.py") in filename)

    top = traceback.TracebackException.from_exception(exc)
    todo, seen = [top], set()
    while todo:
        te = todo.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if users(f.filename)])
        todo += [t for t in (te.__cause__, te.__context__) if t is not None]
    return "".join(top.format())


def _import_quietly(module: str) -> ModuleType:
    """Import ``module`` with the telemetry of the runtimes that have one turned off, so a run writes nothing
    outside its output folder and sightspeed's cache: onnxruntime writes a device id under ~/.cache/Microsoft unless
    ORT_DISABLE_TELEMETRY is set (set here unless the user set it; onnxruntime reads it when its environment is
    made); ``import openvino`` starts its converter's usage statistics (files under ~/intel and a network call),
    which stay off when it sees CI=true, so CI is true only while openvino is first imported, then restored."""
    import os
    import sys

    root = module.split(".")[0]
    if root == "onnxruntime":
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    if root == "tensorflow":  # its INFO lines (oneDNN's notice at import) are not the user's business
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if root != "openvino" or "openvino" in sys.modules:
        return importlib.import_module(module)
    previous = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        return importlib.import_module(module)
    finally:
        if previous is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = previous


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (quietly: :func:`_import_quietly`) or raise :class:`MissingDependency` naming
    ``pip install 'sightspeed[extra]'``."""
    try:
        return _import_quietly(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed: pip install 'sightspeed[{extra}]' ({exc})"
        ) from exc
