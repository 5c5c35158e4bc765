"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network) that opens from
``file://``. It draws :func:`.summary.summarize`'s dict, the same figures ``--json`` prints, plus a timeline
overview folded from the session's spans (:mod:`.timeline`)."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any

from ..profiling.session import Session
from . import svg, timeline
from .profile_console import NOT_MODELLED
from .summary import summarize

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.verdict{background:#f3f7fb;border-left:4px solid #4e79a7;padding:10px 14px;font-size:15px}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:6px 12px;margin:6px 0}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child,td.l,th.l{text-align:left}th{background:#fafafa}
.sol{display:inline-block;height:9px;background:#4e79a7;vertical-align:middle;margin-right:4px}
.note{color:#666;font-size:12px}.chart{max-width:100%;height:auto;display:block;margin:6px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}dt{color:#666}dd{margin:0}
"""
SECTIONS = ["verdict", "config", "time", "roofline", "bounds", "hotspots", "what-if", "tune", "timeline"]


def render(session: Session, what_if: list[str] | tuple[str, ...] = (), trace: str | None = "trace.json") -> str:
    """The report as one HTML string. ``trace``: the Perfetto trace to link beside the timeline (None: none)."""
    data = summarize(session, what_if)
    names = [s["name"] for s in data["stages"]]
    parts = [_verdict(data), _config(data), _time(data), _roofline(data), _bounds(data), _hotspots(data),
             _what_if(data), _tune(data), _timeline(session, names, trace)]
    title = f"sightspeed: {data['pipeline'] or 'profile'}"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
            f"<p class=note>sightspeed {escape(data['sightspeed'])}, {escape(str(data['machine']['cpu']))}, "
            f"{data['wall_s']:.2f} s wall</p>" + "".join(p for p in parts if p) + "</body></html>")


def write(session: Session, path: str | os.PathLike[str], what_if: list[str] | tuple[str, ...] = (),
          trace: str | None = None) -> Path:
    """Write the report to ``path``; the trace is linked when ``trace`` (a path) exists, relative to the report."""
    path = Path(path)
    link = None
    if trace and Path(trace).exists():
        link = os.path.relpath(trace, path.parent if str(path.parent) else ".")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(session, what_if, link), encoding="utf-8")
    return path


def _section(key: str, heading: str, body: str) -> str:
    return f'<section id="{key}"><h2>{escape(heading)}</h2>{body}</section>'


def _table(head: list[str], rows: list[list[Any]], left: int = 1) -> str:
    cells = "".join(f"<th{' class=l' if k < left else ''}>{escape(h)}</th>" for k, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{' class=l' if k < left else ''}>{c}</td>" for k, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or value == 0 else f"{value:,.{digits}f}"


def _verdict(d: dict) -> str:
    warnings = "".join(f"<div class=warn>{escape(w)}</div>" for w in d["warnings"])
    notes = "".join(f"<div class=note>{escape(n)}</div>" for n in d["notes"])
    return _section("verdict", "Verdict", f"<p class=verdict>{escape(d['verdict']['text'])}</p>{warnings}{notes}")


def _config(d: dict) -> str:
    m, c = d["machine"], d["config"]
    ceil = m["ceilings"]
    hw = [("CPU", f"{m['cpu']} ({m['cores']} cores for this run)"), ("SIMD", ", ".join(m["simd"]) or "-"),
          ("dot products", ", ".join(f"{k}: {', '.join(v)}" for k, v in m["dot_product"].items()) or "none"),
          ("memory", f"{m['memory_gib']} GiB" if m["memory_gib"] else "-"), ("OS", m["os"] or "-")]
    if ceil:
        hw.append(("ceilings", f"memory {ceil.get('mem_bw_1t', 0) / 1e9:.1f} GB/s (1 thread), "
                               f"{ceil.get('mem_bw_all', 0) / 1e9:.1f} (all); fp32 {ceil.get('flops_1t', 0) / 1e9:.0f} "
                               f"GFLOP/s (1 thread), {ceil.get('flops_all', 0) / 1e9:.0f} (all)"))
    sw = [(k, str(v)) for k, v in m["software"].items() if v]
    split = ", ".join(f"{k} {v['workers']}x{v['threads']}" for k, v in c["split"].items())
    run = [(k, str(v)) for k, v in c.items() if k not in ("split",) and not isinstance(v, (dict, list))]
    run.append(("workers x threads", split or "-"))
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in hw + sw + run)
    return _section("config", "Hardware, software, configuration", f"<dl>{rows}</dl>")


def _time(d: dict) -> str:
    parts = ["on CPU", "off CPU in the stage", "waiting for input", "waiting for a core"]
    per = _per(d)
    rows = []
    for s in d["stages"]:
        split = f"{s['workers']}x{s['threads']}, cpu/wall {s['cpu_per_wall']:.2f}"
        if s["per"] != per:  # it counted no items beside stages that did: its per-call time, off the item scale
            rows.append((s["name"], [], f"no items: {s['ms_per_item']:.2f} ms per call ({s['calls']} calls), {split}"))
            continue
        count = max(1, s["items"] or s["calls"])
        on = min(s["total_s"], s["cpu_s"] / max(1, s["threads"]))
        values = [on, s["total_s"] - on, s["wait_s"], s["core_wait_s"]]
        rows.append((s["name"], [1000 * v / count for v in values], split))
    chart = svg.stacked_bars(rows, parts, f"ms/{per}", "where the time goes, per stage",
                             ["#4e79a7", "#a0cbe8", "#f28e2b", "#e15759"])
    return _section("time", "Where the time goes", chart + f"<p class=note>Each stage's time per {per}, its "
                    "workers summed; workers x threads and cores kept busy (cpu/wall, the runtime's pool threads "
                    "included) beside each bar.</p>")


def _per(d: dict) -> str:
    """What the report's per-unit figures divide by: ``item``, or ``call`` where no stage counted items."""
    return "item" if d["items"] else "call"


def _per_unit(s: dict, per: str, value: float | None, digits: int) -> str:
    """A stage's per-unit figure under a ``per`` column: labelled per call where the stage counted no items."""
    if s["per"] == per or not value:
        return _num(value, digits)
    return f"{value:,.{digits}f} <span class=note>per call</span>"


def _roofline(d: dict) -> str:
    c = d["machine"]["ceilings"]
    index = {s["name"]: k for k, s in enumerate(d["stages"])}
    points = [(s["name"], s["intensity"], s["gflops"], index[s["name"]]) for s in d["stages"] if s["intensity"]]
    if not points or not c.get("flops_all") or not c.get("mem_bw_all"):
        why = "no stage declared both FLOPs and bytes" if c.get("flops_all") else "no machine ceilings measured"
        return _section("roofline", "Roofline", f"<p class=note>No roofline: {why}.</p>" + _unplaced(d))
    roofs = [("fp32, all cores", c["mem_bw_all"] / 1e9, c["flops_all"] / 1e9),
             ("fp32, 1 thread", c["mem_bw_1t"] / 1e9, c["flops_1t"] / 1e9)]
    for tier in ("bf16", "int8"):
        if c.get(f"flops_{tier}_all"):
            roofs.append((f"{tier}, all cores", c["mem_bw_all"] / 1e9, c[f"flops_{tier}_all"] / 1e9))
    chart = svg.roofline(points, roofs, "roofline: each stage under this machine's measured ceilings")
    return _section("roofline", "Roofline", chart + "<p class=note>A stage under the slope is limited by memory "
                    "bandwidth, under the flat part by arithmetic; the gap to the line is its distance from the "
                    "speed of light.</p>" + _unplaced(d))


def _unplaced(d: dict) -> str:
    """The stages the roofline leaves out (a point needs FLOPs and bytes), each with why and what it reached."""
    c, out = d["machine"]["ceilings"], []
    for s in d["stages"]:
        if s["intensity"]:
            continue
        if s["flops"]:
            why = f"FLOPs but no bytes counted, {s['gflops']:.1f} GFLOP/s"
        elif s["gbps"]:
            roof = c.get("mem_bw_all" if s["threads"] > 1 else "mem_bw_1t")
            why = f"bytes only, {s['gbps']:.1f} GB/s" + (f" of {roof / 1e9:.1f} GB/s memory bandwidth" if roof else "")
        else:
            why = "no FLOPs or bytes counted"
        out.append(f"{s['name']} ({s['bound_label']}): {why}")
    if not out:
        return ""
    return ("<p class=note>Not placed (a point needs both FLOPs and bytes): "
            + escape("; ".join(out)) + ".</p>")


def _bounds(d: dict) -> str:
    per, rows = _per(d), []
    for s in d["stages"]:
        pct = s["pct_sol"]
        bar = f"<span class=sol style='width:{min(100, 100 * pct):.0f}px'></span>{100 * pct:.0f}%" if pct else "-"
        rows.append([escape(s["name"]), s["calls"], _per_unit(s, per, s["ms_per_item"], 2), _num(s["p50_ms"], 2),
                     _num(s["p95_ms"], 2), f"{s['cpu_per_wall']:.2f}", _per_unit(s, per, s["bytes_per_item"] / 1e6, 2),
                     _num(s["gbps"], 2), _num(s["gflops"], 1), escape(s["bound_label"]), bar])
    return _section("bounds", "Bounds and speed of light", _table(
        ["stage", "calls", f"ms/{per}", "p50 ms", "p95 ms", "cpu/wall", f"MB/{per}", "GB/s", "GFLOP/s", "bound",
         "% SOL"], rows) + "<p class=note>% SOL: the time the stage's work would take at this machine's ceilings "
        "over the time it took (its CPU time per thread when the cores were contended).</p>")


def _hotspots(d: dict) -> str:
    rows = [[escape(s["name"]) if k == 0 else "", escape(h["function"]), f"<span class=note>{escape(h['where'])}</span>",
             h["calls"] or "-", f"{h['own_ms']:.1f}", f"{100 * h['share']:.0f}%"]  # sampled rows count no calls
            for s in d["stages"] for k, h in enumerate(s["hotspots"])]
    lines = [[escape(stage) if k == 0 else "", f"<span class=note>{escape(x['file'])}:{x['line']}</span>",
              f"<code>{escape((x.get('code') or '').strip())}</code>", escape(x.get("category") or ""),
              f"{100 * x['share']:.0f}%"] for stage, rows_ in (d.get("lines") or {}).items()
             for k, x in enumerate(rows_[:5])]
    if not rows and not lines:
        return _section("hotspots", "Hotspots", "<p class=note>No hotspots recorded (a plain run; "
                        "`sightspeed profile` collects them).</p>")
    body = _table(["stage", "function", "where", "calls", "own ms", "of stage"], rows, left=3) if rows else ""
    if lines:
        body += "<h3>Top lines (sampled)</h3>" + _table(["stage", "where", "line", "what", "of stage"], lines, left=4)
    return _section("hotspots", "Hotspots", body)


def _what_if(d: dict) -> str:
    rows = d["what_if"]
    if not rows:  # calls only: a model of items/s would read 0 everywhere
        return _section("what-if", "What-if", f"<p class=note>{escape(d.get('what_if_not_modelled') or NOT_MODELLED)}"
                        ".</p>")
    measured = rows[0].get("measured_per_s")
    unit = "items/s"
    chart = svg.bars([(f"{r['machine']} (modelled)", r["pipelined_per_s"], f"{r['speedup']:.2f}x") for r in rows],
                     unit, "what-if: projected throughput (modelled)", measured,
                     f"measured now: {measured:.1f} {unit}" if measured else "")
    table = _table(["machine", "limited by", "items/s (modelled)", "speed-up", "moved to GPU"],
                   [[escape(r["machine"]), escape(r["limiting"]), _num(r["pipelined_per_s"]), f"{r['speedup']:.2f}x",
                     escape(", ".join(r["on_gpu"]) or "-")] for r in rows], left=2)
    notes = "".join(f"<div class=note>{escape(n)}</div>" for r in rows for n in r["notes"])
    return _section("what-if", "What-if (modelled)", chart + table + notes + "<p class=note>Every row, 'now' "
                    "included, is the model's projection from each stage's bound; the dashed line is the measured "
                    "rate.</p>")


def _tune(d: dict) -> str:
    t = d.get("tune")
    if not t:
        return ""
    rows = [[escape(r["candidate"]) + (" <b>(chosen)</b>" if r["candidate"] == t.get("chosen") else ""),
             escape(r["phase"]), _num(r["items_per_s"], 2), _num(r["p50_ms"], 0), _num(r["p95_ms"], 0),
             escape(r["fidelity"] or r["skipped"] or r["error"] or ""),
             "pass" if r["pass"] else ("-" if r["skipped"] or r["error"] else "FAIL")] for r in t["trials"]]
    body = _table(["candidate", "phase", "items/s", "p50 ms", "p95 ms", "fidelity / why", ""], rows, left=2)
    for name, curve in (t.get("curves") or {}).items():
        series = {name: [(p["batch"], p["ms_per_item"]) for p in curve["points"]]}
        body += svg.lines(series, "batch size", "ms per item", f"batch curve: {name}")
        body += f"<p class=note>{escape(curve['reason'])}</p>"
    if t.get("speedup_vs_default"):
        body += f"<p>Chosen: <b>{escape(t['chosen'])}</b>, {t['speedup_vs_default']:.2f}x the default.</p>"
    return _section("tune", "Tune: candidates and batch curves", body)


def _timeline(session: Session, names: list[str], trace: str | None) -> str:
    lanes, dropped = timeline.blocks(session)
    if not lanes:
        return _section("timeline", "Timeline", "<p class=note>No spans recorded.</p>")
    chart = svg.lanes(lanes, session.wall_s, names, "timeline overview: one lane per thread")
    kept, seen = len(session.spans), session.spans_seen
    caption = (f"Each lane is a thread, cut into slices of the run; a slice shows the stage that ran longest in it, "
               f"shaded by how busy the thread was. Drawn from {kept:,} of {seen:,} spans"
               + (" (a uniform sample)" if seen > kept else "") + (f"; {dropped} quieter threads left out" if dropped
                                                                   else "") + ".")
    if trace:
        caption += (f" Every span is in <a href=\"{escape(trace)}\">{escape(trace)}</a>: open it in Perfetto "
                    "(ui.perfetto.dev, Open trace file; it stays in your browser) or chrome://tracing (Load).")
    return _section("timeline", "Timeline", chart + f"<p class=note>{caption}</p>")
