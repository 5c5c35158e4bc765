"""Task names -> pipeline builders; ``module:function`` loads a user's own pipeline."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import SightspeedError
from ..io.pool import BufferPool
from ..pipeline.stage import Pipeline


def _shipped(module: str, options_class: str) -> Callable[[dict[str, Any], BufferPool], Pipeline]:
    """A builder for a shipped task: imports it on first use, keeps the options its dataclass knows."""

    def build_task(options: dict[str, Any], pool: BufferPool) -> Pipeline:
        task = importlib.import_module(f"{__package__}.{module}")
        cls = getattr(task, options_class)
        known = cls.__dataclass_fields__
        return task.build(cls(**{k: v for k, v in options.items() if k in known}), pool)

    return build_task


TASKS: dict[str, Callable[[dict[str, Any], BufferPool], Pipeline]] = {
    "portrait": _shipped("portrait", "PortraitOptions"),
    "ocr": _shipped("ocr", "OcrOptions"),
}


def build(task: str, options: dict[str, Any] | None = None, pool: BufferPool | None = None) -> Pipeline:
    """A shipped task by name, or ``module:function`` returning a Pipeline (or a list of Stages).

    The user's function gets, as keyword arguments, those of ``options`` its signature names (all of them if it
    takes ``**kwargs``); the current folder is importable, like ``python -m``.

    >>> build("nope")
    Traceback (most recent call last):
    ...
    sightspeed.errors.SightspeedError: unknown task 'nope': use one of portrait, ocr, or module:function
    """
    options = dict(options or {})
    pool = pool or BufferPool()
    if task in TASKS:
        return TASKS[task](options, pool)
    if ":" not in task:
        raise SightspeedError(f"unknown task {task!r}: use one of {', '.join(TASKS)}, or module:function")
    module_name, _, func_name = task.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise SightspeedError(f"cannot load {task}: {exc}") from exc
    params = inspect.signature(func).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = options
    else:
        kwargs = {k: v for k, v in options.items() if k in params}
    result = func(**kwargs)
    try:
        return Pipeline.of(result, name=func_name)
    except (TypeError, ValueError) as exc:
        raise SightspeedError(f"{task} must return a Pipeline or a list of Stages, got {type(result).__name__}") from exc
