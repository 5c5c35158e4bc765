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
