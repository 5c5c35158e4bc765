"""Shipped tasks (portrait, ...) and loading a user's own pipeline from ``module:function``."""

from __future__ import annotations

from .registry import TASKS as TASKS
from .registry import build as build
