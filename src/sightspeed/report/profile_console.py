"""Console rendering of a profiled Session: the per-stage table, hotspots, what-if, perf counters. Everything shown
comes from the Session (its machine description and ceilings included), so a saved one renders alike anywhere."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..profiling import trust
from ..profiling.analysis import StageReport, analyse, saturation, session_cores
from ..profiling.session import Session
from ..profiling.verdict import verdict
from ..profiling.whatif import Projection, parse, project
from .console import budget_line
from .lines_console import render_lines, top_line


NOT_MODELLED = "not modelled: no stage counted items (a stage(..., items=N) block counts them)"


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value else "-"


def bound_label(session: Session, report: StageReport) -> str:
    """The bound as shown: a compute bound from a model's FLOPs names the stage's precision tier where the
    session declares one (``compute (bf16)``; ``compute (bf16 vs fp32)`` when that tier's ceiling was not measured
    and fp32's stood in)."""
    declared = report.name in (session.config.get("tiers") or {})
    if report.bound != "compute" or not declared or "flops" not in report.times_at_ceiling:
        return report.bound
    binding = max(report.times_at_ceiling, key=report.times_at_ceiling.get)
    if binding != "flops":
        return report.bound
    fallback = report.tier != "f32" and report.flops_ceiling in ("flops_1t", "flops_all")
    return f"compute ({report.tier} vs fp32)" if fallback else f"compute ({report.tier})"


def stage_table(session: Session, reports: list[StageReport]) -> Table:
    """The per-stage table. Its per-unit columns are per item; where no stage counted items (a script's or
    ``%sightspeed``'s stages, which count calls unless a block gives ``items=N``) they are per call, and the title
    gives each stage's calls and time instead of an items/s that would read 0."""
    items = max((r.items for r in reports), default=0)
    unit = "item" if items else "call"
    name = session.config.get("pipeline", "profile")
    if items:
        rate = items / session.wall_s if session.wall_s else 0.0
        title = f"{name}: {session.wall_s:.2f} s wall, {rate:.2f} items/s"
    else:
        title = (f"{name}: {session.wall_s:.2f} s wall, no items counted; calls per stage: "
                 + (", ".join(f"{r.name} {r.calls} in {r.total_s:.2f} s" for r in reports) or "none"))
    table = Table(title=title, title_justify="left")
    for col in ("stage", "calls", "total s", f"ms/{unit}", "% wall", "cpu/wall", f"MB/{unit}", f"MFLOP/{unit}",
                "GB/s", "GFLOP/s", "bound", "% SOL", "top hotspot"):
        table.add_column(col, justify="left" if col in ("stage", "bound", "top hotspot") else "right",
                         overflow="fold")
    for r in reports:
        per = r.items if items else r.calls  # 0: the stage counted none (a row of "-", never totals as per-item)
        top = r.hotspots[0] if r.hotspots else None
        line = top_line(session, r.name)  # the sampler's: the line, not the function
        table.add_row(
            r.name, str(r.calls), f"{r.total_s:.2f}", _per(1000 * r.total_s, per, 2), f"{100 * r.wall_share:.0f}",
            f"{r.cpu_ratio:.2f}", _per(r.bytes / 1e6, per, 2), _per(r.work.get("flops", 0.0) / 1e6, per),
            _fmt(r.gbps, 2), _fmt(r.gflops, 2), bound_label(session, r), f"{100 * r.pct_sol:.0f}" if r.sol_s else "-",
            line or (f"{top['function']} {100 * top['share']:.0f}%" if top else ""))
    return table


def _per(amount: float, count: int, digits: int = 1) -> str:
    return _fmt(amount / count, digits) if count else "-"


def hotspot_table(session: Session) -> Table | None:
    """cProfile's top functions per stage; None where there are none, or where the sampler's lines stand in."""
    if not session.hotspots or session.lines:
        return None
    table = Table(title="hotspots: own time per stage, all worker threads merged (cProfile)", title_justify="left")
    for col in ("stage", "function", "where", "calls", "own ms", "% of stage"):
        table.add_column(col, justify="right" if col in ("calls", "own ms", "% of stage") else "left",
                         overflow="fold")
    for stage, rows in session.hotspots.items():
        for k, row in enumerate(rows):
            table.add_row(stage if k == 0 else "", row["function"], row["where"], str(row["calls"]),
                          f"{row['own_ms']:.1f}", f"{100 * row['share']:.0f}")
    return table


def whatif_table(reports: list[StageReport], specs: list[str], cores: int | None = None,
                 measured: float | None = None) -> Table:
    """What-if rows. Every row is a model, ``now`` included (this machine as the model sees it, the baseline of
    the speed-ups); ``measured`` (the run's items / wall seconds) stands beside the ``now`` row only."""
    table = Table(title="what-if: every row modelled from each stage's bound, now included; measured = items / wall",
                  title_justify="left")
    for col in ("machine", "limited by", "items/s pipelined", "items/s serial", "measured items/s", "speed-up",
                "moved to GPU"):
        table.add_column(col, justify="right" if "items" in col or col == "speed-up" else "left", overflow="fold")
    notes = []
    for spec in ["now", *specs]:
        proj: Projection = project(reports, parse(spec) if spec != "now" else _now(), cores)
        now = spec == "now"
        table.add_row("now (modelled)" if now else spec, proj.limiting, f"{proj.pipelined_per_s:.1f}",
                      f"{proj.serial_per_s:.1f}", f"{measured:.1f}" if now and measured is not None else "",
                      f"{proj.speedup:.2f}x", ", ".join(proj.on_gpu) or "-")
        notes += [f"{spec}: {note}" for note in proj.notes]
    if notes:
        table.caption, table.caption_justify = "\n".join(notes), "left"
    return table


def _now():
    from ..profiling.whatif import Scenario

    return Scenario("now")


def ceilings_line(session: Session) -> str:
    c = session.machine.get("ceilings", {})
    if not c:
        return "no machine ceilings in this session (`sightspeed machine` measures them; later runs carry them)"
    return (f"ceilings: memory {c['mem_bw_1t'] / 1e9:.1f} GB/s (1 thread), {c['mem_bw_all'] / 1e9:.1f} (all); "
            f"fp32 {c['flops_1t'] / 1e9:.0f} GFLOP/s (1 thread), {c['flops_all'] / 1e9:.0f} (all); "
            f"file read {c['disk_read'] / 1e9:.2f} GB/s; JPEG decode {c['jpeg_decode'] / 1e6:.0f} MP/s, "
            f"encode {c.get('jpeg_encode', 0) / 1e6:.0f} MP/s"
            + (f" (on {c['jpeg_source']})" if c.get("jpeg_source") else "") + tier_ceilings(c))


def tier_ceilings(c: dict) -> str:
    """``; bf16 380 GFLOP/s (1 thread), 720 (all); int8 ...`` for the tiers measured, marked where the CPU runs them
    without native instructions; "" when none was (or the ceilings predate tiers)."""
    parts = []
    for tier, unit in (("bf16", "GFLOP/s"), ("int8", "GOP/s")):
        one, many = c.get(f"flops_{tier}_1t"), c.get(f"flops_{tier}_all")
        if one and many:
            native = ((c.get("tiers") or {}).get(tier) or {}).get("native")
            parts.append(f"{tier} {one / 1e9:.0f} {unit} (1 thread), {many / 1e9:.0f} (all)"
                         + (" not native" if native is False else ""))
    return "".join(f"; {p}" for p in parts)


# perf stat's units (one, many): task-clock is in msec, the other software events are counts
PERF_UNITS = {"task-clock": ("ms CPU", "ms CPU"), "page-faults": ("fault", "faults"),
              "context-switches": ("switch", "switches"), "cpu-migrations": ("migration", "migrations")}


def perf_line(session: Session) -> str | None:
    """perf's software counters with their units (``session.counters["perf.*"]``, from ``perf stat``), or None.

    >>> perf_line(Session(counters={"perf.task-clock": 1500.0, "perf.context-switches": 42.0}))
    'perf (software counters, whole run): task-clock 1,500 ms CPU, context-switches 42 switches'
    """
    perf = {k[5:]: v for k, v in session.counters.items() if k.startswith("perf.")}
    if not perf:
        return None
    parts = []
    for event, value in perf.items():
        one, many = PERF_UNITS.get(event, ("", ""))  # an event without a known unit: the bare number
        unit = one if f"{value:,.0f}" == "1" else many
        parts.append(f"{event} {value:,.0f}" + (f" {unit}" if unit else ""))
    return "perf (software counters, whole run): " + ", ".join(parts)


def render(console, session: Session, what_if: list[str] | None = None) -> list[StageReport]:
    """Print everything about a profiled session; returns the stage reports. Reads only the Session: a session
    without ceilings (a ``run`` on a machine never measured) gets no % SOL, never this machine's ceilings."""
    reports = analyse(session)
    console.print(stage_table(session, reports))
    for warning in trust.warnings(session):
        console.print(Text(f"warning: {warning}", style="yellow"))
    if reports and reports[0].contended:
        console.print(f"cores saturated ({100 * saturation(session):.0f}% busy): stages waited for a core their "
                      "siblings held, so bounds and % SOL use each stage's CPU time")
    for note in (note for r in reports for note in r.notes):
        console.print(note)
    console.print(ceilings_line(session))
    budget = budget_line(session)
    if budget:
        console.print(f"{budget}; workers x threads: "
                      + ", ".join(f"{s.name} {s.workers}x{s.threads}" for s in session.stages))
    hot = hotspot_table(session)
    if hot is not None:
        console.print(hot)
    render_lines(console, session, reports)
    perf = perf_line(session)
    if perf:
        console.print(perf)
    items = max((r.items for r in reports), default=0)
    if what_if and not items:
        console.print(f"what-if: {NOT_MODELLED}")
    elif what_if:
        measured = items / session.wall_s if session.wall_s else None
        console.print(whatif_table(reports, what_if, session_cores(session), measured))
    if any(r.total_s > 0 for r in reports):  # last, where a terminal leaves the eye: the same text as the HTML's
        console.print(Text(f"verdict: {verdict(session, reports).text}", style="bold"))
    return reports
