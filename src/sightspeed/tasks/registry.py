"""Task names -> pipeline builders and their declared options; ``module:function`` loads a user's own pipeline."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import SightspeedError, UnknownTask, UserCodeError
from ..io.pool import BufferPool
from ..pipeline.stage import Pipeline
from .options import Option, declared, describe, from_signature

# Shipped task -> (its module under sightspeed.tasks, its options dataclass). Imported on first use.
TASKS: dict[str, tuple[str, str]] = {
    "portrait": ("portrait", "PortraitOptions"),
    "ocr": ("ocr", "OcrOptions"),
}

# Settings of the run, not of one task (the CLI's common options): a task gets those its options (or its function's
# signature) name, and ignores the others; they are never an error. strip_metadata also goes into a user's
# pipeline's info, where the run's standard write stage reads it (pipeline/run.py complete()).
RUN_SETTINGS = ("variant", "max_pixels", "batch_size", "strip_metadata")


def _options_class(task: str) -> type:
    module, name = TASKS[task]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _function(task: str) -> Callable[..., Any]:
    """The user's ``module:function``: ``module`` is a module name (the current folder is importable, like
    ``python -m``) or a ``.py`` file's path (``./mine.py``, ``path/to/mine.py``: its folder becomes importable).
    A name that does not exist is an :class:`UnknownTask`; an error the user's module raises while it is imported
    is a :class:`UserCodeError`."""
    module_name, colon, func_name = task.rpartition(":")
    if not colon or not module_name or not func_name:
        raise UnknownTask(f"unknown task {task!r}: use one of {', '.join(TASKS)}, or module:function")
    module = _module(module_name, task)
    func = getattr(module, func_name, None)
    if not callable(func):
        public = sorted(name for name, value in vars(module).items()
                        if callable(value) and not name.startswith("_") and getattr(value, "__module__", None)
                        == module.__name__)
        raise UnknownTask(f"cannot load {task}: {module_name} has no function {func_name}"
                          + (f" (it has {', '.join(public)})" if public else ""))
    return func


def _module(name: str, task: str) -> ModuleType:
    """Import the module of ``task`` by name or by file path."""
    if name.endswith(".py") or "/" in name or os.sep in name:
        return _module_from_file(Path(name), task)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):  # the module itself is not there
            raise UnknownTask(f"cannot load {task}: no module named {exc.name} (looked in the current folder "
                              f"{os.getcwd()} and sys.path; or give the file: path/to/{name.replace('.', '/')}"
                              ".py:...)") from None
        raise UserCodeError(f"cannot load {task}: importing {name} raised {_described(exc)}") from exc
    except Exception as exc:  # the user's module raised while it was imported
        raise UserCodeError(f"cannot load {task}: importing {name} raised {_described(exc)}") from exc


def _module_from_file(path: Path, task: str) -> ModuleType:
    """A user's ``.py`` file, imported under its stem (its folder goes on sys.path, so it imports its neighbours)."""
    if not path.is_file():
        raise UnknownTask(f"cannot load {task}: no file {path}")
    name, resolved = path.stem, path.resolve()
    loaded = sys.modules.get(name)
    if loaded is not None:
        if getattr(loaded, "__file__", None) and Path(loaded.__file__).resolve() == resolved:
            return loaded  # options_of, then build: imported once
        raise UnknownTask(f"cannot load {task}: a module named {name} is already imported "
                          f"({getattr(loaded, '__file__', None) or 'built in'}); rename {path}")
    if str(resolved.parent) not in sys.path:
        sys.path.insert(0, str(resolved.parent))
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UnknownTask(f"cannot load {task}: {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # what dataclasses and pickle look a class's module up in
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserCodeError(f"cannot load {task}: importing {path} raised {_described(exc)}") from exc
    return module


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def options_of(task: str) -> list[Option]:
    """The command-line options of a shipped task (declared on its options dataclass) or of a user's
    ``module:function`` (its keyword parameters, less the run settings).

    >>> [o.flag for o in options_of("ocr")]
    ['--runtime', '--precision', '--rec-batch', '--draw', '--fuse-preprocess']
    """
    if task in TASKS:
        return declared(_options_class(task))
    return from_signature(_function(task), skip=RUN_SETTINGS)


def _check_names(task: str, options: dict[str, Any], known: list[str]) -> None:
    wrong = [k for k in options if k not in known and k not in RUN_SETTINGS]
    if wrong:
        raise ValueError(f"{task} has no option {', '.join(wrong)}; it takes {', '.join(known) or 'none'}")


def build(task: str, options: dict[str, Any] | None = None, pool: BufferPool | None = None) -> Pipeline:
    """A shipped task by name, or ``module:function`` returning a Pipeline (or a list of Stages).

    A ``module:function`` is a module name or a ``.py`` file's path (see :func:`_function`); an error raised by
    the user's code, importing the module or calling the function, is a :class:`~sightspeed.errors.UserCodeError`
    (its ``__cause__`` is what the code raised).

    ``options`` are keyword values for the task's options dataclass (or the user's function); one it does not take
    is a ValueError, except the run settings (``variant``, ``max_pixels``, ``batch_size``, ``strip_metadata``),
    which a task gets when it names them. A function that takes ``**kwargs`` gets every option.

    >>> build("nope")
    Traceback (most recent call last):
    ...
    sightspeed.errors.UnknownTask: unknown task 'nope': use one of portrait, ocr, or module:function
    >>> build("portrait", {"draw": True})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: portrait has no option draw; it takes variant, roi, background, save_mask, ...
    """
    options = dict(options or {})
    pool = pool or BufferPool()
    if task in TASKS:
        cls = _options_class(task)
        known = [f.name for f in dataclasses.fields(cls)]
        _check_names(task, options, known)
        task_module = importlib.import_module(cls.__module__)
        return task_module.build(cls(**{k: v for k, v in options.items() if k in known}), pool)
    func = _function(task)
    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = options
    else:
        _check_names(task, options, list(params))
        kwargs = {k: v for k, v in options.items() if k in params}
    try:
        result = func(**kwargs)
    except Exception as exc:  # the user's code: named, with its own traceback kept as the cause
        raise UserCodeError(f"{task} raised {_described(exc)}") from exc
    try:
        pipeline = Pipeline.of(result, name=task.partition(":")[2])
    except (TypeError, ValueError) as exc:
        raise SightspeedError(f"{task} must return a Pipeline or a list of Stages, "
                              f"got {type(result).__name__}") from exc
    if options.get("strip_metadata"):
        pipeline.info["strip_metadata"] = True
    return pipeline


def options_help(width: int = 0) -> str:
    """Every shipped task's options, read from their declarations (the end of ``sightspeed run --help``), wrapped
    to ``width`` columns (default: the terminal's, at most 100)."""
    import shutil
    import textwrap

    width = width or min(100, shutil.get_terminal_size().columns)
    lines = ["Task options (given after TASK, among the inputs):"]
    for task in TASKS:
        lines.append(f"  {task}:")
        for usage, text in describe(options_of(task)):
            if len(usage) > 24:  # a long usage gets a line of its own, its help goes under it
                lines.append(f"    {usage}")
                usage = ""
            lines += textwrap.wrap(text, width, initial_indent=f"    {usage:<24}  ", subsequent_indent=" " * 30,
                                   break_on_hyphens=False)
    lines += textwrap.wrap("its keyword parameters: def build(strength: float = 1.0, invert: bool = False) takes "
                           "--strength X and --invert (a True bool is --no-NAME); variant, max_pixels, "
                           "batch_size and strip_metadata come from the common options.", width,
                           initial_indent="  module:function: ", subsequent_indent=" " * 4, break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def task_identity(task: str) -> str | dict:
    """A shipped task's name; a user's ``module:function`` as module and function (the module by its name, however
    it was given: ``mine:build`` or ``./mine.py:build``) and the sha256 of the module's file (None where it has
    none)."""
    from ..files import sha256_file

    if task in TASKS:
        return task
    name, _, function = task.rpartition(":")
    module = _module(name, task)  # imported already (the run built it): looked up, not run again
    path = getattr(module, "__file__", None)
    return {"function": f"{module.__name__}:{function}",
            "sha256": sha256_file(path) if path and os.path.isfile(path) else None}
