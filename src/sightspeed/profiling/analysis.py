"""Per-stage bounds and speed of light (SOL), from a Session and the machine's ceilings.

For each stage, each kind of work it did is turned into the time it would take at this machine's ceiling:
``bytes / memory bandwidth``, ``flops / FLOP/s``, ``disk bytes / file read``, ``JPEG pixels / decode rate``. The
largest of those is the stage's SOL time; ``% SOL = SOL time / measured time``. The bound is the ceiling that gives
the SOL time, except:

- ``waiting`` / ``io``: the stage's thread was on a CPU for less than half its wall time (blocked on a file, a
  lock, or a core another thread had); ``io`` when its file reads alone explain at least a tenth of the wall time;
- ``python-overhead``: every ceiling is under 5% and most of the stage's own time was in Python-level frames
  (known when the session carries hotspots).

A stage that runs with more than one thread (``StageInfo.threads``) is held to the all-cores ceilings.

Contention: when the cores were busy while a stage ran (the process's CPU time during its spans is at least 75%
of wall time x cores; sessions without that per-span reading use the whole run's), a stage that was off-CPU was
mostly waiting for a core its sibling stages held, not for input. Then the stage is judged on its own CPU time
(its ``service`` time: what it would take with the cores it asked for), and ``waiting`` is not used. When it also
got clearly less CPU than its threads could use (under 80% of ``threads`` cores) and was preempted (at least
``PREEMPTED_PER_S`` involuntary switches a second), it is ``oversubscribed``: more threads were runnable than
there were cores — give it fewer threads, or the run a budget (``--cores``).

A stage's CPU time counts its own thread and the runtime's pool threads that worked for it (profiling.cpu).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .session import Session

WAITING_CPU_RATIO = 0.5
PYTHON_SOL = 0.05
SATURATED = 0.75
SHORT_OF_CPU = 0.8  # of the stage's threads
PREEMPTED_PER_S = 20.0  # involuntary context switches a second: a runnable thread kept waiting for a core
# work kind -> (ceiling for 1 thread, ceiling for all threads, bound name)
WORK_CEILINGS = {
    "mem_bytes": ("mem_bw_1t", "mem_bw_all", "memory"),
    "flops": ("flops_1t", "flops_all", "compute"),
    "disk_bytes": ("disk_read", "disk_read", "io"),
    "jpeg_pixels": ("jpeg_decode", "jpeg_decode", "compute"),
    "jpeg_encode_pixels": ("jpeg_encode", "jpeg_encode", "compute"),
}
CODEC_WORK = {"jpeg_pixels", "jpeg_encode_pixels"}  # codec work stays on the CPU in GPU what-ifs


@dataclass
class StageReport:
    name: str
    calls: int
    items: int
    total_s: float
    cpu_s: float
    wall_share: float
    bytes: float
    work: dict[str, float]
    bound: str
    sol_s: float
    pct_sol: float
    times_at_ceiling: dict[str, float] = field(default_factory=dict)  # work kind -> seconds at its ceiling
    hotspots: list[dict[str, Any]] = field(default_factory=list)
    threads: int = 1
    workers: int = 1
    wait_s: float = 0.0
    service_s: float = 0.0  # the stage's own time: wall time, or CPU time / threads when cores were contended
    contended: bool = False
    saturation: float = 0.0  # how busy the cores were while it ran (1 = all of them)
    preempted: int = 0  # involuntary context switches of its threads
    faults: int = 0  # minor page faults of its threads
    core_wait_s: float = 0.0  # waiting for a core of the run's budget

    @property
    def ms_per_item(self) -> float:
        return 1000 * self.total_s / self.items if self.items else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_s / self.total_s if self.total_s else 0.0

    @property
    def gbps(self) -> float:
        return self.bytes / self.total_s / 1e9 if self.total_s else 0.0

    @property
    def gflops(self) -> float:
        return self.work.get("flops", 0.0) / self.total_s / 1e9 if self.total_s else 0.0


def analyse(session: Session, ceilings: dict[str, Any] | None = None) -> list[StageReport]:
    """A StageReport per stage (in pipeline order). ``ceilings`` default to ``session.machine['ceilings']``."""
    ceilings = ceilings if ceilings is not None else session.machine.get("ceilings", {})
    infos = {s.name: s for s in session.stages}
    summary = session.stage_summary()
    run_saturation = saturation(session)
    reports = []
    for name, st in summary.items():
        info = infos.get(name)
        threads = info.threads if info else 1
        work = dict(st["work"])
        moved = work.get("mem_bytes") or st["bytes"]
        work_for_sol = {**work, "mem_bytes": moved}
        times = {}
        bounds = {}
        for kind, amount in work_for_sol.items():
            if kind not in WORK_CEILINGS or not amount:
                continue
            one, many, bound = WORK_CEILINGS[kind]
            ceiling = ceilings.get(many if threads > 1 else one)
            if ceiling:
                times[kind] = amount / ceiling
                bounds[kind] = bound
        total = st["total_s"]
        busy = st.get("saturation") or run_saturation
        contended = busy >= SATURATED
        service = min(total, st["cpu_s"] / threads) if contended and st["cpu_s"] else total
        sol = max(times.values(), default=0.0)
        pct = sol / service if service else 0.0
        hotspots = session.hotspots.get(name, [])
        report = StageReport(name, int(st["calls"]), int(st["items"]), total, st["cpu_s"], st["wall_share"],
                             moved, work, "-", sol, pct, times, hotspots, threads, info.workers if info else 1,
                             st["wait_s"], service, contended, busy, st.get("preempted", 0), st.get("faults", 0),
                             st.get("core_wait_s", 0.0))
        report.bound = classify(report, bounds)
        reports.append(report)
    return reports


def classify(report: StageReport, bounds: dict[str, str]) -> str:
    """The bound of one stage (see the module docstring for the rules)."""
    if report.total_s <= 0:
        return "-"
    if report.contended and report.cpu_ratio < SHORT_OF_CPU * report.threads \
            and report.preempted >= PREEMPTED_PER_S * report.total_s:
        return "oversubscribed"
    if not report.contended and report.cpu_s and report.cpu_ratio < WAITING_CPU_RATIO:
        disk = report.times_at_ceiling.get("disk_bytes", 0.0)
        return "io" if disk >= 0.1 * report.total_s else "waiting"
    python = report.hotspots[0].get("python_share") if report.hotspots else None
    if report.pct_sol < PYTHON_SOL and python is not None and python >= 0.5:
        return "python-overhead"
    if not report.times_at_ceiling:
        return "python-overhead" if python is not None and python >= 0.5 else "unknown"
    kind = max(report.times_at_ceiling, key=report.times_at_ceiling.get)
    return bounds[kind]


def session_cores(session: Session) -> int:
    """The cores the run had: its budget (``config["cores"]``), else the cores the process could use
    (``machine["cpu"]["available_cores"]``, :mod:`sightspeed.host`), else what older sessions recorded."""
    m = session.machine
    return int(session.config.get("cores") or m.get("cpu", {}).get("available_cores") or
               m.get("doctor", {}).get("cpu", {}).get("logical_cores") or m.get("cpu_count") or 1)


def saturation(session: Session) -> float:
    """CPU time inside spans / (wall time x cores): near 1 when the run kept every core busy."""
    cores = session_cores(session)
    cpu = sum(s.cpu for s in session.spans if s.kind == "run")
    return cpu / (session.wall_s * cores) if session.wall_s else 0.0
