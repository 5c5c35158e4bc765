"""Stages, pipelines, items, executors and the runner."""

from __future__ import annotations

from .executors import Pipelined as Pipelined
from .executors import Serial as Serial
from .item import Item as Item
from .stage import Pipeline as Pipeline
from .stage import Stage as Stage
