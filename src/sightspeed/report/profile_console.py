"""Console rendering of a profiled Session: the per-stage table, hotspots, what-if, perf counters. Everything shown
comes from the Session (its machine description and ceilings included), so a saved one renders alike anywhere."""

from __future__ import annotations

from rich.table import Table

from ..profiling.analysis import StageReport, analyse, saturation, session_cores
from ..profiling.session import Session
from ..profiling.whatif import Projection, parse, project
from .console import budget_line


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
    items = max((r.items for r in reports), default=0)
    rate = items / session.wall_s if session.wall_s else 0.0
    table = Table(title=f"{session.config.get('pipeline', 'profile')}: {session.wall_s:.2f} s wall, "
                        f"{rate:.2f} items/s", title_justify="left")
    for col in ("stage", "calls", "total s", "ms/item", "% wall", "cpu/wall", "MB/item", "MFLOP/item", "GB/s", "GFLOP/s",
                "bound", "% SOL", "top hotspot"):
        table.add_column(col, justify="left" if col in ("stage", "bound", "top hotspot") else "right",
                         overflow="fold")
    for r in reports:
        per = max(1, r.items)
        top = r.hotspots[0] if r.hotspots else None
        table.add_row(
            r.name, str(r.calls), f"{r.total_s:.2f}", _fmt(r.ms_per_item, 2), f"{100 * r.wall_share:.0f}", f"{r.cpu_ratio:.2f}",
            _fmt(r.bytes / per / 1e6, 2), _fmt(r.work.get("flops", 0.0) / per / 1e6), _fmt(r.gbps, 2),
            _fmt(r.gflops, 2), bound_label(session, r), f"{100 * r.pct_sol:.0f}" if r.sol_s else "-",
            f"{top['function']} {100 * top['share']:.0f}%" if top else "")
    return table


def hotspot_table(session: Session) -> Table | None:
    if not session.hotspots:
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


def whatif_table(reports: list[StageReport], specs: list[str], cores: int | None = None) -> Table:
    table = Table(title="what-if: projected from each stage's bound", title_justify="left")
    for col in ("machine", "limited by", "items/s pipelined", "items/s serial", "speed-up", "moved to GPU"):
        table.add_column(col, justify="right" if "items" in col or col == "speed-up" else "left", overflow="fold")
    notes = []
    for spec in ["now", *specs]:
        proj: Projection = project(reports, parse(spec) if spec != "now" else _now(), cores)
        table.add_row(spec, proj.limiting, f"{proj.pipelined_per_s:.1f}", f"{proj.serial_per_s:.1f}",
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


def render(console, session: Session, what_if: list[str] | None = None) -> list[StageReport]:
    """Print everything about a profiled session; returns the stage reports. Reads only the Session: a session
    without ceilings (a ``run`` on a machine never measured) gets no % SOL, never this machine's ceilings."""
    reports = analyse(session)
    console.print(stage_table(session, reports))
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
    perf = {k[5:]: v for k, v in session.counters.items() if k.startswith("perf.")}
    if perf:
        console.print("perf (software counters, whole run): " + ", ".join(f"{k} {v:,.0f}" for k, v in perf.items()))
    if what_if:
        console.print(whatif_table(reports, what_if, session_cores(session)))
    return reports
