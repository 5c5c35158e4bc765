"""Compare two profiled Sessions (A: before, B: after), stage by stage and end to end, to gate a change on speed.

Stages are matched by name; a stage only in B is ``added``, only in A ``removed``. Each stage's time is its ms per
item (per call where it counts no items); ``speed-up = A / B`` (> 1: B is faster).

Noise band (from the spans' own spread, so no second run is needed): each side's mean span duration has a relative
standard error ``rse = sd / (mean * sqrt(calls))``, with ``sd`` and ``mean`` read from the stage's quantile sketch
(every span, not the sample); the band is ``Z * sqrt(rse_a**2 + rse_b**2)`` with ``Z = 3``. A stage is ``slower`` /
``faster`` when B/A - 1 is beyond the band, else ``no change``. End to end (wall time per item; items = the most
any stage handled, as the profile report counts them) each side's ``rse`` is the stage ``rse`` weighted by the
stage's share of that side's stage time, summed in quadrature (independent stages): ``sqrt(sum((share * rse)**2))``.
The band covers noise within a run only (not a busier machine on another day); a side with one span has no spread
(counted as 0, and a warning says so). :meth:`Comparison.regressed` is True when end to end or any stage is slower
by more than the threshold AND beyond its band.

>>> round(Z * math.hypot(0.01, 0.01), 3)  # two sides each with a 1% standard error: a +-4.2% band
0.042
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from ..profiling.analysis import analyse
from ..profiling.session import Session
from ..profiling.sketch import QuantileSketch

SCHEMA = "sightspeed.compare/1"
Z = 3.0  # standard errors in the band: a false "slower" on equal runs is ~0.3% per stage
CEILINGS = ("mem_bw_1t", "mem_bw_all", "flops_1t", "flops_all")  # shown per side: memory B/s, fp32 FLOP/s
MACHINES_TITLE = "machines (ceilings in GB/s and GFLOP/s)"


def relative_se(sketch: QuantileSketch) -> float | None:
    """The relative standard error of the mean of the sketch's values (None: fewer than 2 values). Bucket
    centres stand for their values (each within the sketch's accuracy).

    >>> s = QuantileSketch()
    >>> for _ in range(100):
    ...     s.add(1.0); s.add(3.0)
    >>> round(relative_se(s), 3)  # sd ~1.0, mean 2.0, 200 values: 1.0 / (2.0 * sqrt(200))
    0.035
    """
    n = sketch.count
    if n < 2:
        return None
    gamma = (1 + sketch.accuracy) / (1 - sketch.accuracy)
    values = [(2 * gamma**k / (gamma + 1), c) for k, c in sketch.bins.items()] + [(0.0, sketch.zeros)]
    mean = sum(v * c for v, c in values) / n
    var = sum(c * (v - mean) ** 2 for v, c in values) / (n - 1)
    return math.sqrt(var) / (mean * math.sqrt(n)) if mean > 0 else None


@dataclass
class StageChange:
    name: str
    ms_a: float | None  # ms per item in A (None: not in A)
    ms_b: float | None
    noise: float  # the band, relative: 0.04 = +-4%
    bound_a: str = "-"
    bound_b: str = "-"
    verdict: str = "no change"  # faster | slower | no change | added | removed (end-to-end: or not compared)

    @property
    def speedup(self) -> float | None:
        return self.ms_a / self.ms_b if self.ms_a and self.ms_b else None

    @property
    def change(self) -> float | None:  # B / A - 1: +0.3 = 30% slower
        return self.ms_b / self.ms_a - 1 if self.ms_a and self.ms_b else None

    @property
    def bound_changed(self) -> bool:
        return None not in (self.ms_a, self.ms_b) and self.bound_a != self.bound_b

    def regressed(self, threshold: float) -> bool:
        return self.verdict == "slower" and self.change > threshold


@dataclass
class Comparison:
    stages: list[StageChange]
    end_to_end: StageChange
    threshold: float = 0.05
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # "a"/"b" -> cpu, cores, ceilings
    warnings: list[str] = field(default_factory=list)

    @property
    def added(self) -> list[str]:
        return [s.name for s in self.stages if s.verdict == "added"]

    @property
    def removed(self) -> list[str]:
        return [s.name for s in self.stages if s.verdict == "removed"]

    def regressions(self, threshold: float | None = None) -> list[StageChange]:
        """End to end and the stages slower by more than ``threshold`` (default: the comparison's) and the noise."""
        t = self.threshold if threshold is None else threshold
        return [s for s in [self.end_to_end, *self.stages] if s.regressed(t)]

    def regressed(self, threshold: float | None = None) -> bool:
        return bool(self.regressions(threshold))


def _verdict(ms_a: float | None, ms_b: float | None, noise: float) -> str:
    if ms_a is None or ms_b is None:
        return "added" if ms_a is None else "removed"
    if not ms_a or not ms_b:
        return "no change"  # nothing timed on a side: nothing to judge
    change = ms_b / ms_a - 1
    return "slower" if change > noise else "faster" if -change > noise else "no change"


def _side(session: Session) -> dict[str, tuple[float, float, float | None]]:
    """Stage -> (ms per item, total s, rse) for the stages that ran."""
    return {name: (1000 * t.total_s / (t.items or t.calls), t.total_s, relative_se(t.durations))
            for name, t in session.totals.items() if t.calls}


def _machine(session: Session) -> dict[str, Any]:
    cpu, ceilings = session.machine.get("cpu") or {}, session.machine.get("ceilings") or {}
    return {"cpu": cpu.get("model"), "cores": cpu.get("logical_cores"), **{k: ceilings.get(k) for k in CEILINGS}}


def _e2e_rse(side: dict[str, tuple[float, float, float | None]]) -> float:
    total = sum(t for _, t, _ in side.values())
    return math.sqrt(sum((t / total * (r or 0.0)) ** 2 for _, t, r in side.values())) if total else 0.0


def compare(a: Session, b: Session, threshold: float = 0.05) -> Comparison:
    """Compare session ``a`` (before) with ``b`` (after); see the module docstring for the rules."""
    side_a, side_b = _side(a), _side(b)
    bounds_a, bounds_b = ({r.name: r.bound for r in analyse(s)} for s in (a, b))
    warnings, stages = [], []
    names = [n for n in dict.fromkeys(a.stage_names() + b.stage_names()) if n in side_a or n in side_b]
    for name in names:
        (ms_a, _, rse_a), (ms_b, _, rse_b) = side_a.get(name, (None,) * 3), side_b.get(name, (None,) * 3)
        if name in side_a and name in side_b and (rse_a is None or rse_b is None):
            warnings.append(f"{name}: one span on a side, no spread to measure: judged on its change alone")
        noise = Z * math.hypot(rse_a or 0.0, rse_b or 0.0)
        stages.append(StageChange(name, ms_a, ms_b, noise, bounds_a.get(name, "-"), bounds_b.get(name, "-"),
                                  _verdict(ms_a, ms_b, noise)))
    items_a = max((t.items for t in a.totals.values()), default=0)
    items_b = max((t.items for t in b.totals.values()), default=0)
    wall_a = 1000 * a.wall_s / items_a if items_a and a.wall_s else None
    wall_b = 1000 * b.wall_s / items_b if items_b and b.wall_s else None
    noise = Z * math.hypot(_e2e_rse(side_a), _e2e_rse(side_b))
    e2e = StageChange("end-to-end", wall_a, wall_b, noise, verdict=_verdict(wall_a, wall_b, noise))
    if wall_a is None or wall_b is None:
        e2e.verdict = "not compared"
        warnings.append("end-to-end: a side has no wall time or no items; not compared")
    machines = {"a": _machine(a), "b": _machine(b)}
    ma, mb = machines["a"], machines["b"]
    if (ma["cpu"], ma["cores"]) != (mb["cpu"], mb["cores"]):
        warnings.insert(0, f"different machines: A ran on {ma['cpu'] or 'an unknown CPU'} ({ma['cores']} cores), "
                           f"B on {mb['cpu'] or 'an unknown CPU'} ({mb['cores']} cores); see their ceilings")
    return Comparison(stages, e2e, threshold, machines, warnings)


def to_dict(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-able data (what ``sightspeed compare --json`` prints)."""
    def row(s: StageChange) -> dict[str, Any]:
        return {**asdict(s), "speedup": s.speedup, "change": s.change, "bound_changed": s.bound_changed,
                "regressed": s.regressed(comparison.threshold)}

    return {"schema": SCHEMA, "threshold": comparison.threshold, "regressed": comparison.regressed(),
            "end_to_end": row(comparison.end_to_end), "stages": [row(s) for s in comparison.stages],
            "added": comparison.added, "removed": comparison.removed, "machines": comparison.machines,
            "warnings": list(comparison.warnings)}


def _num(x: float | None, fmt: str, unit: str = "") -> str:
    return "-" if x is None else format(x, fmt) + unit


MACHINE_COLUMNS = ("side", "cpu", "cores", *CEILINGS)


def machine_rows(comparison: Comparison) -> list[list[str]]:
    """Each side's CPU, cores and ceilings (GB/s, GFLOP/s) as table rows, when the two machines differ; else []."""
    ma, mb = comparison.machines.get("a", {}), comparison.machines.get("b", {})
    if ma == mb:
        return []
    return [[side, str(m.get("cpu")), str(m.get("cores")), *(_num(m.get(k) and m[k] / 1e9, ".1f") for k in CEILINGS)]
            for side, m in (("A", ma), ("B", mb))]


def render(comparison: Comparison, console: Console) -> None:
    """The comparison table (regressions in bold red), each side's ceilings when the machines differ, warnings."""
    t, e2e = comparison.threshold, comparison.end_to_end
    table = Table(title=f"A -> B (regression: slower by > {100 * t:.0f}% and beyond the noise)", title_justify="left")
    for col in ("stage", "A ms/item", "B ms/item", "speed-up", "noise ±%", "bound A→B", "verdict"):
        table.add_column(col, justify="left" if col in ("stage", "bound A→B", "verdict") else "right")
    for s in [*comparison.stages, e2e]:
        if s is e2e:
            table.add_section()
        bound = "" if s is e2e else f"{s.bound_a} → {s.bound_b}" if s.bound_changed else (
            s.bound_b if s.ms_a is None else s.bound_a)
        style = "bold red" if s.regressed(t) else "green" if s.verdict == "faster" else None
        table.add_row(s.name, _num(s.ms_a, ".2f"), _num(s.ms_b, ".2f"), _num(s.speedup, ".2f", "x"),
                      _num(s.speedup and 100 * s.noise, ".1f"), bound, s.verdict, style=style)
    console.print(table)
    sides = machine_rows(comparison)
    if sides:
        machines = Table(title=MACHINES_TITLE, title_justify="left")
        for col in MACHINE_COLUMNS:
            machines.add_column(col, justify="left" if col in ("side", "cpu") else "right")
        for row in sides:
            machines.add_row(*row)
        console.print(machines)
    for w in comparison.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    bad = comparison.regressions()
    console.print(f"[bold red]regressed:[/] {', '.join(s.name for s in bad)}" if bad
                  else f"no regression beyond {100 * t:.0f}% and the noise")


def parse_threshold(text: str) -> float:
    """A threshold as a fraction: ``"5%"``, ``"5 %"`` or ``"0.05"``.

    >>> parse_threshold("5%"), parse_threshold("0.05"), parse_threshold(" 2.5 % ")
    (0.05, 0.05, 0.025)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*", text)
    if not m:
        raise ValueError(f"threshold {text!r}: expected a percentage like '5%' or a fraction like '0.05'")
    value = float(m.group(1)) / 100 if m.group(2) else float(m.group(1))
    if m.group(2) == "" and value >= 1:
        raise ValueError(f"threshold {text!r}: a bare number is a fraction (0.05 = 5%); write '{text.strip()}%'")
    return round(value, 12)
