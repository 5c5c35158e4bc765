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


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``pip install 'sightspeed[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is not installed: pip install 'sightspeed[{extra}]' ({exc})"
        ) from exc
