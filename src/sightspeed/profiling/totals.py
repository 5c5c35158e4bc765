"""Per-stage running totals of a Session: what the report needs, kept as spans arrive, in memory that does not grow
with the number of spans (sums, and a quantile sketch of the call durations). The Session keeps only a bounded
sample of the spans themselves (for the timeline); every figure of its stage summary comes from these totals, so a
100,000-image run summarises as exactly as a 10-image one. Totals add up: the Ray engine merges its workers'."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sketch import QuantileSketch


@dataclass
class StageTotals:
    calls: int = 0
    items: int = 0
    total_s: float = 0.0
    cpu_s: float = 0.0
    bytes: int = 0
    work: dict[str, float] = field(default_factory=dict)
    wait_s: float = 0.0  # waiting for input
    core_wait_s: float = 0.0  # waiting for a core of the run's budget
    setup_s: float = 0.0  # start-up (kind="setup": fetch, load, compile, warm up), never the stage's run time
    faults: int = 0
    preempted: int = 0
    busy_s: float = 0.0  # saturation x duration, summed: the wall-weighted saturation's numerator
    durations: QuantileSketch = field(default_factory=QuantileSketch)  # of the run spans, seconds

    def add(self, span: Any) -> None:
        """Count one :class:`~sightspeed.profiling.session.Span`: a ``run`` span is the stage's work; ``wait``
        (for input), ``core`` (for a core of the budget) and ``setup`` (start-up) spans are kept apart."""
        duration = span.end - span.start
        if span.kind == "core":
            self.core_wait_s += duration
            return
        if span.kind == "setup":
            self.setup_s += duration
            return
        if span.kind != "run":
            self.wait_s += duration
            return
        self.calls += 1
        self.items += span.items
        self.total_s += duration
        self.cpu_s += span.cpu
        self.bytes += span.bytes_in + span.bytes_out
        for k, v in span.work.items():
            self.work[k] = self.work.get(k, 0.0) + v
        self.faults += span.faults
        self.preempted += span.preempted
        self.busy_s += span.saturation * duration
        self.durations.add(duration)

    def merge(self, other: StageTotals) -> None:
        for name in ("calls", "items", "total_s", "cpu_s", "bytes", "wait_s", "core_wait_s", "setup_s", "faults",
                     "preempted", "busy_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.work.items():
            self.work[k] = self.work.get(k, 0.0) + v
        self.durations.merge(other.durations)

    def summary(self, wall_s: float) -> dict[str, Any]:
        """The stage summary's row (Session.stage_summary)."""
        total, items = self.total_s, self.items
        return {
            "calls": self.calls,
            "items": items,
            "total_s": total,
            "ms_per_item": 1000 * total / items if items else 0.0,
            "cpu_ms_per_item": 1000 * self.cpu_s / items if items else 0.0,
            "median_ms_per_call": 1000 * self.durations.quantile(0.5),
            "p95_ms_per_call": 1000 * self.durations.quantile(0.95),
            "wall_share": total / wall_s if wall_s else 0.0,
            "cpu_s": self.cpu_s,
            "bytes": self.bytes,
            "work": dict(self.work),
            "wait_s": self.wait_s,
            "core_wait_s": self.core_wait_s,
            "setup_s": self.setup_s,
            "faults": self.faults,
            "preempted": self.preempted,
            "saturation": self.busy_s / total if total else 0.0,  # how busy the cores were while it ran
        }

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "durations"}
        return {**data, "durations": self.durations.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageTotals:
        return cls(**{k: v for k, v in data.items() if k != "durations" and k in cls.__dataclass_fields__},
                   durations=QuantileSketch.from_dict(data["durations"]))


def totals_of(spans: list) -> dict[str, StageTotals]:
    """Totals rebuilt from spans (a session saved before totals existed, or one built by hand)."""
    found: dict[str, StageTotals] = {}
    for span in spans:
        found.setdefault(span.stage, StageTotals()).add(span)
    return found


def startup_of(totals: dict[str, StageTotals]) -> dict[str, float]:
    """The start-up steps (names with ``kind="setup"`` time) and their seconds, in the order they were recorded.

    >>> t = StageTotals(setup_s=2.5)
    >>> startup_of({"load models": t, "decode": StageTotals()})
    {'load models': 2.5}
    """
    return {name: t.setup_s for name, t in totals.items() if t.setup_s > 0}


def is_setup_only(totals: StageTotals) -> bool:
    """True for a name that has only start-up time (a start-up step, not a stage): stage tables leave it out."""
    return totals.setup_s > 0 and not (totals.calls or totals.wait_s or totals.core_wait_s)
