"""Task names -> pipeline builders and their declared options; ``module:function`` loads a user's own pipeline."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import SightspeedError
from ..io.pool import BufferPool
from ..pipeline.stage import Pipeline
from .options import Option, declared, describe, from_signature

# Shipped task -> (its module under sightspeed.tasks, its options dataclass). Imported on first use.
TASKS: dict[str, tuple[str, str]] = {
    "portrait": ("portrait", "PortraitOptions"),
    "ocr": ("ocr", "OcrOptions"),
}

# Settings of the run, not of one task (the CLI's common options): a task gets those its options (or its function's
# signature) name, and ignores the others; they are never an error.
RUN_SETTINGS = ("variant", "max_pixels", "batch_size")


def _options_class(task: str) -> type:
    module, name = TASKS[task]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _function(task: str) -> Callable[..., Any]:
    """The user's ``module:function`` (the current folder is importable, like ``python -m``)."""
    if ":" not in task:
        raise SightspeedError(f"unknown task {task!r}: use one of {', '.join(TASKS)}, or module:function")
    module_name, _, func_name = task.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise SightspeedError(f"cannot load {task}: {exc}") from exc


def options_of(task: str) -> list[Option]:
    """The command-line options of a shipped task (declared on its options dataclass) or of a user's
    ``module:function`` (its keyword parameters, less the run settings).

    >>> [o.flag for o in options_of("ocr")]
    ['--runtime', '--precision', '--rec-batch', '--draw']
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

    ``options`` are keyword values for the task's options dataclass (or the user's function); one it does not take
    is a ValueError, except the run settings (``variant``, ``max_pixels``, ``batch_size``), which a
    task gets when it names them. A function that takes ``**kwargs`` gets every option.

    >>> build("nope")
    Traceback (most recent call last):
    ...
    sightspeed.errors.SightspeedError: unknown task 'nope': use one of portrait, ocr, or module:function
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
    result = func(**kwargs)
    try:
        return Pipeline.of(result, name=task.partition(":")[2])
    except (TypeError, ValueError) as exc:
        raise SightspeedError(f"{task} must return a Pipeline or a list of Stages, "
                              f"got {type(result).__name__}") from exc


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
                           "--strength X and --invert (a True bool is --no-NAME); variant, max_pixels and "
                           "batch_size come from the common options.", width,
                           initial_indent="  module:function: ", subsequent_indent=" " * 4, break_on_hyphens=False)
    return "\n".join(lines) + "\n"
