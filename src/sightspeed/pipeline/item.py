"""The typed item that flows through a pipeline: one image or video frame and what was learned about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..io.metadata import ImageMetadata


@dataclass(eq=False)
class Item:
    """One image (or video frame) and its results.

    ``source`` names where it came from (a path, or ``path#frame``); ``index`` is its position in the run and
    fixes output order. Stages read and write ``image``, ``results`` and ``output``, and may leave a remark for
    the manifest row in ``notes`` (e.g. "no face: whole frame segmented"); the executor fills ``times`` (stage ->
    seconds) and, when a stage raises, ``error``, ``failed_stage``, ``where`` (file:line that raised) and
    ``traceback``; later stages then skip the item. ``runner_stages`` names the stages whose work the runner does
    itself for this item (a video frame is read by the runner's video reader and written by its in-order video
    writer), so the executor does not call them on it. ``metadata`` is what the input's outputs carry of it (ICC
    profile, EXIF, XMP: :mod:`sightspeed.io.metadata`), read by the decode stage from an image's bytes (None for a
    video frame, or an input without any).

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
    where: str | None = None  # file:line of the frame that raised (the innermost of the user's own code)
    traceback: str | None = None  # the formatted traceback of that error, bounded (pipeline/failure.py)
    notes: list[str] = field(default_factory=list)
    runner_stages: frozenset[str] = frozenset()
    metadata: ImageMetadata | None = None
    # Set by the runner: a safe, unique output path stem inside the output folder (no suffix).
    output_stem: str | None = None
    # Buffers borrowed from a BufferPool, given back when the item leaves the pipeline.
    borrowed: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, stage: str, reason: str, where: str | None = None, traceback: str | None = None) -> None:
        self.error = reason
        self.failed_stage = stage
        self.where, self.traceback = where, traceback

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
        self.metadata = None
        self.results = {k: v for k, v in self.results.items() if not isinstance(v, np.ndarray)}
