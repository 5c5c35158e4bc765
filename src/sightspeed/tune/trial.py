"""One candidate measured: build its pipeline, run it over the inputs (a first pass checked against the reference's
outputs, then timed passes), keep the numbers."""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fidelity import Fidelity
from .space import Candidate


@dataclass
class Trial:
    """What tune learned of one candidate. ``times``: seconds per timed pass over all inputs; ``latencies_ms``:
    each item's time in the stages (timed passes); ``stage_ms``: ms per item per stage (last pass)."""

    label: str
    phase: str
    candidate: Candidate | None
    times: list[float] = field(default_factory=list)
    items: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    fidelity: Fidelity | None = None
    skipped: str | None = None
    error: str | None = None
    cost_s: float = 0.0  # what measuring it took, build included
    session: Any = field(default=None, repr=False)  # the last timed pass's Session

    @property
    def measured(self) -> bool:
        return bool(self.times) and self.skipped is None and self.error is None

    @property
    def passed(self) -> bool:
        return self.measured and self.fidelity is not None and self.fidelity.ok

    @property
    def median_s(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def throughput(self) -> float:
        """Items per second at the median pass."""
        return self.items / self.median_s if self.times and self.median_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def score(self, objective: str) -> float:
        """Higher is better: items/s for throughput, 1 / p50 latency for latency."""
        if not self.passed:
            return 0.0
        if objective == "latency":
            p50 = self.percentile(50)
            return 1000.0 / p50 if p50 > 0 else 0.0
        return self.throughput

    def row(self) -> dict[str, Any]:
        """A JSON row of tune's table."""
        return {"candidate": self.label, "phase": self.phase,
                "config": self.candidate.as_dict() if self.candidate else None,
                "items_per_s": round(self.throughput, 3) if self.measured else None,
                "passes_s": [round(t, 4) for t in self.times],
                "p50_ms": round(self.percentile(50), 2) if self.latencies_ms else None,
                "p95_ms": round(self.percentile(95), 2) if self.latencies_ms else None,
                "fidelity": self.fidelity.figure if self.fidelity else None,
                "pass": self.passed, "skipped": self.skipped, "error": self.error,
                "stage_ms_per_item": {k: round(v, 3) for k, v in self.stage_ms.items()}}


def executor_of(candidate: Candidate):
    from ..pipeline.executors import Pipelined, Serial, parse_split

    if candidate.executor == "serial":
        return Serial(batch_size=candidate.batch_size)
    return Pipelined(None, candidate.batch_size, split=parse_split(candidate.split))


@contextlib.contextmanager
def backends_of(candidate: Candidate):
    """The candidate's forced kernel backends, as use_backend scopes (they reach the pipelined workers)."""
    from ..kernels import use_backend

    with contextlib.ExitStack() as stack:
        for op, backend in candidate.backends:
            stack.enter_context(use_backend(backend, op))
        yield


class Built:
    """A candidate's pipeline, built once (models loaded and warmed) and run as often as needed."""

    def __init__(self, task: str, options: dict[str, Any], candidate: Candidate, cores: int | None) -> None:
        from ..io.pool import BufferPool
        from ..tasks import build

        self.candidate, self.cores = candidate, cores
        self.pool = BufferPool()
        self.pipeline = build(task, {**options, **candidate.opts, "batch_size": candidate.batch_size}, self.pool)
        self.executor = executor_of(candidate)

    def run(self, inputs: list[str], out: Path):
        from ..pipeline.run import run
        from ..profiling.session import Session

        with backends_of(self.candidate):
            return run(self.pipeline, inputs, out, executor=self.executor, pool=self.pool, cores=self.cores,
                       session=Session(), overwrite=True)  # tune's scratch folders: each pass starts over


def take(trial: Trial, result) -> None:
    """Add one timed pass's numbers to ``trial``."""
    trial.times.append(result.session.wall_s)
    trial.items = result.ok + result.failed
    trial.latencies_ms += [sum(r["times_ms"].values()) for r in result.rows if r.get("times_ms")]
    trial.session = result.session
    trial.stage_ms = {name: st["ms_per_item"] for name, st in result.session.stage_summary().items()}


def clock() -> float:
    return time.perf_counter()
