"""The typed item that flows through a pipeline: one image or video frame and what was learned about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Item:
    """One image (or video frame) and its results.

    ``source`` names where it came from (a path, or ``path#frame``); ``index`` is its position in the run and
    fixes output order. Stages read and write ``image``, ``results`` and ``output``; the executor fills ``times``
    (stage -> seconds) and, when a stage raises, ``error`` and ``failed_stage``; later stages then skip the item.

    >>> item = Item(source="a.jpg", index=0)
    >>> item.ok
    True
    """

    source: str
    index: int
    image: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    output: np.ndarray | None = None
    outputs: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    failed_stage: str | None = None
    # Set by the runner: a safe, unique output path stem inside the output folder (no suffix).
    output_stem: str | None = None
    # Buffers borrowed from a BufferPool, given back when the item leaves the pipeline.
    borrowed: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, stage: str, reason: str) -> None:
        self.error = reason
        self.failed_stage = stage

    def nbytes(self) -> int:
        """Bytes held in this item's arrays (image, output and array results), for span accounting."""
        total = 0
        for value in (self.image, self.output, *self.results.values()):
            if isinstance(value, np.ndarray):
                total += value.nbytes
        return total

    def release(self) -> None:
        """Drop the large arrays once the item is written, so finished items hold no pixels."""
        self.image = None
        self.output = None
        self.results = {k: v for k, v in self.results.items() if not isinstance(v, np.ndarray)}
