"""A profiled Session's analysis as one JSON-able dict: what ``sightspeed report --json`` prints and what the HTML
report draws, so the two never disagree. Versioned: ``schema`` is ``sightspeed.report/1``, described field by field
in ``report.schema.json`` beside this module (a JSON Schema; docs/profiling.md shows an example).

A new field may appear within a version; a field's meaning never changes without a new version.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from .._version import __version__
from ..profiling import trust
from ..profiling.analysis import StageReport, analyse, session_cores
from ..profiling.session import Session
from ..profiling.verdict import verdict
from ..profiling.whatif import Scenario, parse, project
from .profile_console import NOT_MODELLED, bound_label

SCHEMA = "sightspeed.report/1"


def schema() -> dict[str, Any]:
    """The JSON Schema of :func:`summarize`'s output."""
    return json.loads(resources.files(__package__).joinpath("report.schema.json").read_text())


def summarize(session: Session, what_if: list[str] | tuple[str, ...] = (),
              reports: list[StageReport] | None = None) -> dict[str, Any]:
    """Everything the reports show about ``session``: verdict, warnings, config, machine, per-stage figures
    (bound, % SOL, hotspots), what-if rows (each labelled modelled; ``now`` also carries the measured rate; none,
    and ``what_if_not_modelled`` saying why, where no stage counted items)."""
    reports = reports if reports is not None else analyse(session)
    items = max((r.items for r in reports), default=0)
    judged = verdict(session, reports)
    return {
        "schema": SCHEMA,
        "sightspeed": __version__,
        "pipeline": session.config.get("pipeline"),
        "wall_s": session.wall_s,
        "startup": session.startup(),
        "items": items,
        "items_per_s": items / session.wall_s if items and session.wall_s else None,
        "calls": sum(r.calls for r in reports),
        "verdict": {"stage": judged.stage, "bound": judged.bound, "first_step": judged.first_step,
                    "text": judged.text, "numbers": judged.numbers},
        "warnings": trust.warnings(session),
        "notes": [note for r in reports for note in r.notes],
        "config": config_of(session),
        "machine": machine_of(session),
        "stages": [stage_row(session, r) for r in reports],
        "what_if": what_if_rows(session, reports, list(what_if)),
        "what_if_not_modelled": None if items else NOT_MODELLED,
        "spans": {"seen": session.spans_seen, "kept": len(session.spans)},
        "lines": session.lines,  # the line sampler's top lines per stage (profile --hotspots lines)
        "breakdown": session.breakdown,  # wall and CPU time by what ran it (an unannotated script)
        "tune": session.config.get("tune"),
    }


def config_of(session: Session) -> dict[str, Any]:
    plain = {k: v for k, v in session.config.items() if k != "tune"}
    return {**plain, "split": {s.name: {"workers": s.workers, "threads": s.threads, "batchable": s.batchable}
                               for s in session.stages}}


def machine_of(session: Session) -> dict[str, Any]:
    m = session.machine
    cpu = m.get("cpu", {})
    runtimes = m.get("runtimes") or {}
    software = {"python": (m.get("system") or {}).get("python"), "numpy": (m.get("numpy") or {}).get("version"),
                "opencv": (m.get("opencv") or {}).get("version")}
    for name, value in runtimes.items():
        version = value.get("version") if isinstance(value, dict) else value
        if version:
            software[name] = version
    return {
        "cpu": cpu.get("model"),
        "cores": session_cores(session),
        "simd": cpu.get("simd", []),
        "dot_product": cpu.get("dot_product", {}),
        "memory_gib": (m.get("memory") or {}).get("total_gib"),
        "os": (m.get("system") or {}).get("os"),
        "software": software,
        "gpu": m.get("gpu"),
        "fingerprint": m.get("fingerprint"),
        "ceilings": {k: v for k, v in (m.get("ceilings") or {}).items() if isinstance(v, (int, float))},
    }


def stage_row(session: Session, r: StageReport) -> dict[str, Any]:
    summary = session.totals[r.name].summary(session.wall_s) if r.name in session.totals else {}
    per = max(1, r.items or r.calls)
    flops = r.work.get("flops", 0.0)
    return {
        "name": r.name, "calls": r.calls, "items": r.items, "per": "item" if r.items else "call",
        "ms_per_item": 1000 * r.total_s / per,
        "p50_ms": summary.get("median_ms_per_call"), "p95_ms": summary.get("p95_ms_per_call"),
        "total_s": r.total_s, "cpu_s": r.cpu_s, "cpu_per_wall": r.cpu_ratio, "wall_share": r.wall_share,
        "wait_s": r.wait_s, "core_wait_s": r.core_wait_s, "service_s": r.service_s,
        "bytes": r.bytes, "bytes_per_item": r.bytes / per, "flops": flops, "flops_per_item": flops / per,
        "work": r.work, "gbps": r.gbps, "gflops": r.gflops,
        "intensity": flops / r.bytes if flops and r.bytes else None,
        "bound": r.bound, "bound_label": bound_label(session, r),
        "pct_sol": r.pct_sol if r.sol_s else None, "sol_s": r.sol_s, "times_at_ceiling": r.times_at_ceiling,
        "workers": r.workers, "threads": r.threads, "tier": r.tier, "flops_ceiling": r.flops_ceiling or None,
        "contended": r.contended, "saturation": r.saturation, "preempted": r.preempted, "faults": r.faults,
        "hotspots": r.hotspots, "notes": r.notes,
    }


def what_if_rows(session: Session, reports: list[StageReport], specs: list[str]) -> list[dict[str, Any]]:
    """The modelled rows, ``now`` first; none where no stage counted items (the model projects items/s: a
    session of calls only would read 0 items/s everywhere; ``what_if_not_modelled`` says so instead)."""
    cores = session_cores(session)
    items = max((r.items for r in reports), default=0)
    if not items:
        return []
    rows = []
    for spec in ["now", *specs]:
        p = project(reports, parse(spec) if spec != "now" else Scenario("now"), cores)
        row = {"machine": spec, "modelled": True, "limiting": p.limiting, "pipelined_per_s": p.pipelined_per_s,
               "serial_per_s": p.serial_per_s, "speedup": p.speedup, "on_gpu": p.on_gpu, "notes": p.notes,
               "stage_ms": {k: 1000 * v for k, v in p.stage_s.items()}}
        if spec == "now":
            row["measured_per_s"] = items / session.wall_s if items and session.wall_s else None
        rows.append(row)
    return rows
