"""The verdict: one paragraph in plain words, computed from a profile's numbers: what limits the pipeline, by how
much, and the first thing to try. Every report (console, HTML, ``--json``) shows the same one.

- **What limits it**: the what-if model of this machine (:func:`.whatif.project`, scenario ``now``) names the stage
  that sets the pipelined rate: the slowest stage per item and worker, or, when all cores are busy, the stage that
  uses the most CPU.
- **The first step**: a stage that is ``oversubscribed`` anywhere comes first (its preemptions slow every stage);
  else it follows the limiting stage's bound (memory, compute on a model or a codec, io, waiting, python-overhead,
  unknown), and quotes that stage's numbers: bytes or FLOPs per item, the rate reached, % of the ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .analysis import CODEC_WORK, StageReport, analyse, session_cores
from .session import Session
from .whatif import Scenario, project

# what the sampler's kinds of unstaged work usually want (profiling/frames.py names the kinds)
UNSTAGED_ADVICE = {
    "numpy/OpenCV": " Array arithmetic in float64 moves twice the bytes of float32, and each operation of a chain is "
                    "a pass over memory: fuse them into one (a compiled kernel).",
    "plain Python": " A Python loop over pixels or boxes belongs in a compiled kernel (numba, Cython) or one "
                    "vectorised call.",
    "file I/O": " Reads and writes: overlap them with the work (a pipelined run) or read less.",
}
NEAR_CEILING = 0.5  # at half its ceiling or more, a stage gains little from better code: do less work instead


@dataclass
class Verdict:
    stage: str  # the stage the first step is about
    bound: str
    first_step: str
    text: str  # the whole paragraph
    numbers: dict[str, Any] = field(default_factory=dict)  # the figures the text quotes


def verdict(session: Session, reports: list[StageReport] | None = None) -> Verdict:
    reports = reports if reports is not None else analyse(session)
    timed = [r for r in reports if r.total_s > 0]
    unstaged = _unstaged(session)
    over = [r for r in timed if r.bound == "oversubscribed"]
    # code outside every stage took more of the wall time than any stage did: wrapping it comes first
    if unstaged and not over and unstaged[1]["share"] > max((r.wall_share for r in timed), default=0.0):
        step, numbers = _unstaged_step(session, *unstaged)
        return Verdict("(script)", unstaged[0], step, f"{_headline(session, timed)} {step}", numbers)
    if not timed:
        return Verdict("-", "-", "profile a run with at least one stage", "No stage ran: nothing to judge.")
    cores = session_cores(session)
    now = project(timed, Scenario("now"), cores)
    by_name = {r.name: r for r in timed}
    limiting = by_name.get(now.limiting_stage)
    if limiting is None or not limiting.items:  # calls, no items (a script's stage() blocks): no rate to compare
        limiting = max(timed, key=lambda r: r.total_s)
    focus = max(over, key=lambda r: r.total_s) if over else limiting
    step, numbers = first_step(focus, session, cores, timed)
    numbers = {"limiting_stage": limiting.name, "cores_bound": now.cores_bound, "cores": cores, **numbers}
    return Verdict(focus.name, focus.bound, step, f"{_headline(session, timed)} {_limit(limiting, now, timed, cores)} {step}",
                   numbers)


def _unstaged(session: Session) -> tuple[str, dict] | None:
    """The biggest kind of work the sampler saw outside every stage (a script nobody annotated): (kind, {wall_s,
    share of the run's wall time}), or None. Only samples outside every stage count (``unstaged_s``): time in the
    user's own stages is theirs, judged by their bounds. A session saved before ``unstaged_s`` does not say which
    samples were outside: its sampled rows count only when no stage but implicit ones (a breakdown row's
    ``stages``) ran."""
    rows = session.breakdown or {}
    if any("unstaged_s" in row for row in rows.values()):
        outside = {kind: row["unstaged_s"] for kind, row in rows.items() if row.get("unstaged_s")}
    else:
        implicit = {name for row in rows.values() for name in row.get("stages", [])}
        if any(not name.startswith("(") and name not in implicit for name in session.totals):
            return None
        outside = {kind: row.get("wall_s", 0.0) for kind, row in rows.items() if not row.get("stages")}
    wall = session.wall_s or sum(row.get("wall_s", 0.0) for row in rows.values())
    if not outside or not wall:
        return None
    kind = max(outside, key=outside.get)
    return kind, {"wall_s": outside[kind], "share": min(1.0, outside[kind] / wall)}


def _unstaged_step(session: Session, kind: str, row: dict) -> tuple[str, dict]:
    lines = [x for stage, rows in (session.lines or {}).items() if stage.startswith("(")  # the base: (script)
             for x in rows if x.get("category") in (kind, None)]
    top = max(lines, key=lambda x: x.get("seconds", 0.0)) if lines else None
    where = (f", most of it at {top['file']}:{top['line']} `{(top.get('code') or '').strip()}` ({top['share']:.0%} "
             "of the time outside stages)") if top else ""
    advice = UNSTAGED_ADVICE.get(kind, "")
    numbers = {"kind": kind, "share": row["share"], "wall_s": row["wall_s"],
               "line": f"{top['file']}:{top['line']}" if top else None}
    code = (top.get("code") or "").strip() if top else ""
    if code.startswith(("import ", "from ")) and top["share"] >= 0.5:  # start-up, not work: no stage makes it faster
        return (f"First: {row['share']:.0%} of the time ({row['wall_s']:.2f} s) went to {kind} outside any stage"
                f"{where}: an import, paid once per process. Profile more items to see the work itself, and keep "
                "one long-lived process for many inputs (a sightspeed run, a worker) rather than a process per "
                "batch.", {**numbers, "import": True})
    return (f"First: {row['share']:.0%} of the time ({row['wall_s']:.2f} s) went to {kind} outside any stage{where}. "
            "Wrap that line or its loop in `with sightspeed.stage(\"name\", bytes=..., flops=...)`: it gets a bound "
            f"and a % of speed of light.{advice}", numbers)


def _headline(session: Session, reports: list[StageReport]) -> str:
    name = session.config.get("pipeline") or "This profile"
    if not reports:
        return f"{name} ran {session.wall_s:.2f} s with no stage."
    items = max(r.items for r in reports)
    if items:
        rate = items / session.wall_s if session.wall_s else 0.0
        return f"{name} ran {items:,} items in {session.wall_s:.2f} s ({rate:.1f} items/s)."
    calls = sum(r.calls for r in reports)
    return f"{name} ran {calls:,} stage calls in {session.wall_s:.2f} s."


def _per(r: StageReport) -> str:
    return "item" if r.items else "call"


def _ms(r: StageReport) -> float:
    return 1000 * (r.service_s or r.total_s) / max(1, r.items or r.calls)


def _limit(r: StageReport, now, reports: list[StageReport], cores: int) -> str:
    if now.cores_bound:
        cpu = sum(x.cpu_s for x in reports)
        share = r.cpu_s / cpu if cpu else 0.0
        busy = f"All {cores} cores were busy" if cores > 1 else "The one core was busy"
        return (f"{busy}; {r.name} used the most CPU: {share:.0%} of it, "
                f"{_ms(r):.1f} ms per {_per(r)}.")
    if r.workers > 1:
        return (f"{r.name} sets the pace: {_ms(r):.1f} ms per {_per(r)} on {r.workers} workers, which were in it "
                f"{r.wall_share / r.workers:.0%} of the wall time.")
    return f"{r.name} sets the pace: {_ms(r):.1f} ms per {_per(r)}, {r.wall_share:.0%} of the wall time."


def first_step(r: StageReport, session: Session, cores: int, reports: list[StageReport]) -> tuple[str, dict]:
    """The first thing to try for stage ``r``, by its bound, and the numbers it quotes."""
    per = max(1, r.items or r.calls)
    pct = r.pct_sol
    task = session.config.get("task") or "TASK"
    if r.bound == "oversubscribed":
        rate = r.preempted / r.total_s if r.total_s else 0.0
        return (f"First: {r.name} got {r.cpu_ratio:.2f} cores of CPU for its {r.threads} threads while being "
                f"preempted {rate:.0f} times a second: more threads were runnable than there were cores. Give the run "
                f"a core budget (--cores {cores}) or that stage fewer threads (--split).",
                {"cpu_per_wall": r.cpu_ratio, "threads": r.threads, "preempted_per_s": rate})
    binding = max(r.times_at_ceiling, key=r.times_at_ceiling.get) if r.times_at_ceiling else None
    if r.bound == "memory":
        mb = r.bytes / per / 1e6
        start = f"First: {r.name} moves {mb:.1f} MB per {_per(r)} at {r.gbps:.1f} GB/s, {pct:.0%} of the memory bandwidth"
        tail = ("; near that ceiling, only fewer bytes help: crop to the region that matters, downscale first, keep "
                "uint8 instead of float32." if pct >= NEAR_CEILING else
                ": each pass over the image is a trip to memory. Fuse its chain of array operations into one pass "
                "(a compiled kernel; `sightspeed bench` compares the backends) or touch fewer bytes (crop, downscale).")
        return start + tail, {"mb_per_item": mb, "gbps": r.gbps, "pct_sol": pct}
    if r.bound == "compute" and binding in CODEC_WORK:
        mp = r.work[binding] / per / 1e6
        verb = "decodes" if binding == "jpeg_pixels" else "encodes"
        return (f"First: {r.name} {verb} {mp:.1f} MP of JPEG per {_per(r)} at {pct:.0%} of what the codec does on "
                "this CPU: no code change makes it much faster; fewer pixels would (decode at a reduced size, "
                "DCT-domain downscale, or fewer frames).", {"mp_per_item": mp, "pct_sol": pct})
    if r.bound == "compute":
        gflop = r.work.get("flops", 0.0) / per / 1e9
        start = (f"First: {r.name} does {gflop:.2f} GFLOP per {_per(r)} at {r.gflops:.0f} GFLOP/s, {pct:.0%} of this "
                 f"CPU's {r.tier} peak")
        tail = (f"; close to the peak, do less math (a smaller input or model), a lower precision tier "
                f"(`sightspeed tune {task}` checks bf16/int8 against the f32 outputs) or more cores (see what-if)."
                if pct >= NEAR_CEILING else
                f"; far below it, as small convolutions are with a runtime's per-call overhead. `sightspeed tune {task}` "
                "(runtime, precision tier, batch size, thread split) is the first thing to try.")
        return start + tail, {"gflop_per_item": gflop, "gflops": r.gflops, "pct_sol": pct, "tier": r.tier}
    if r.bound == "io":
        return (f"First: {r.name} reads files at {r.work.get('disk_bytes', 0) / r.total_s / 1e9:.2f} GB/s, {pct:.0%} "
                "of what this disk gives, and is off-CPU most of its time: read fewer bytes (smaller files, a "
                "local copy) or overlap reads with more workers.", {"pct_sol": pct})
    if r.bound == "waiting":
        order = [x.name for x in reports]
        before = order[order.index(r.name) - 1] if order.index(r.name) > 0 else None
        feed = f"the stage before it, {before}, feeds it too slowly: speed that one up or give it more workers" \
            if before else "its input arrives too slowly (a source or a lock): look at what it waits on"
        return (f"First: {r.name} was off-CPU {1 - r.cpu_ratio:.0%} of its time, {r.wait_s:.2f} s waiting for input; "
                f"{feed}.", {"cpu_per_wall": r.cpu_ratio, "wait_s": r.wait_s})
    if r.bound == "python-overhead":
        top = r.hotspots[0] if r.hotspots else {"function": "its Python code", "share": 0.0}
        return (f"First: {r.name} is at {pct:.0%} of any ceiling and spends its time in Python ({top['function']}: "
                f"{top['share']:.0%} of the stage): move the loop into a compiled kernel (numba, Cython) or call the "
                "native operation once per batch.", {"pct_sol": pct, "top": top["function"], "share": top["share"]})
    if not session.machine.get("ceilings"):
        return (f"First: this session carries no machine ceilings, so no stage has a bound or a % of speed of light: "
                "`sightspeed machine` measures them once (a few seconds), and every later profile carries them.", {})
    return (f"First: no ceiling applies to {r.name}, as it declared no work: say what it moves and computes "
            "(`sightspeed.stage(name, bytes=..., flops=...)`) and the profile names its bound.", {})
