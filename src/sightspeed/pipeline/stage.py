"""Stage and Pipeline: named steps, and their order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .item import Item
from .startup import SetupStep


@dataclass(frozen=True)
class Stage:
    """A named step of a pipeline.

    ``fn`` takes one :class:`Item` (or, when ``batchable``, a list of up to ``batch_size`` items) and updates it
    in place. ``threads`` caps how many threads one call can use (1 for single-threaded code; ``None``: as many
    as the executor's split gives it — a model runtime's intra-op pool, numba, OpenMP read their share from
    :func:`sightspeed.cores.threads_here`). ``max_workers`` caps how many calls may run at once in the pipelined
    executor (1 for code that is not thread-safe; ``None`` for no cap). ``prepare``, when given, runs once on each
    worker thread, with that thread's share, before any item and outside timed regions (load and warm a model).

    >>> def grayscale(item): item.image = item.image.mean(axis=2)
    >>> Stage("gray", grayscale).name
    'gray'
    """

    name: str
    fn: Callable[..., Any]
    batchable: bool = False
    threads: int | None = None
    max_workers: int | None = None
    prepare: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"stage name must be a plain word, got {self.name!r}")
        if (self.threads is not None and self.threads < 1) or (self.max_workers is not None and self.max_workers < 1):
            raise ValueError(f"stage {self.name}: threads and max_workers must be >= 1")

    def workers_for(self, requested: int) -> int:
        return max(1, requested if self.max_workers is None else min(requested, self.max_workers))

    def __call__(self, items: list[Item]) -> None:
        """Run on a list of items: one call when batchable, else one call per item."""
        if self.batchable:
            self.fn(items)
        else:
            for item in items:
                self.fn(item)


@dataclass
class Pipeline:
    """An ordered list of stages, plus an optional ``close`` hook for what they hold (models, writers), and the
    timed steps of its start-up (``setup``: :class:`~sightspeed.pipeline.startup.SetupStep`, filled by the
    builder; the first run of the pipeline records them).

    >>> p = Pipeline([Stage("a", lambda item: None), Stage("b", lambda item: None)], name="demo")
    >>> [s.name for s in p.stages]
    ['a', 'b']
    """

    stages: Sequence[Stage]
    name: str = "pipeline"
    close_hooks: list[Callable[[], None]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    setup: list[SetupStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stages = list(self.stages)
        if not self.stages:
            raise ValueError("a pipeline needs at least one stage")
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique, repeated: {', '.join(dupes)}")

    @classmethod
    def of(cls, steps: Pipeline | Iterable[Stage], name: str = "pipeline") -> Pipeline:
        return steps if isinstance(steps, Pipeline) else cls(list(steps), name=name)

    def close(self) -> None:
        for hook in self.close_hooks:
            hook()
        self.close_hooks.clear()

