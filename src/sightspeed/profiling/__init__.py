"""Clocks, spans and the Session: the one data object every renderer reads."""

from __future__ import annotations

from .session import Session as Session
from .session import Span as Span
from .session import StageInfo as StageInfo
