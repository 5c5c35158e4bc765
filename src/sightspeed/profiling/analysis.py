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

Precision tiers: a model stage runs at a tier (``session.config["tiers"]``: stage -> ``f32`` | ``bf16`` |
``int8``; f32 where absent), and its FLOPs are held to that tier's ceiling (``flops_bf16_1t``, ``flops_int8_all``,
... from :mod:`.tiers`): a bf16 model at 90% of the fp32 peak is at ~45% of what bf16 does here. Where the tier's
ceiling was not measured (no runtime for it, or ceilings from before tiers) the stage falls back to the fp32
ceiling and its report says so in ``notes``.

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
from .tiers import CEILINGS as TIER_CEILINGS

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
    tier: str = "f32"  # the precision its model ran at (session.config["tiers"])
    flops_ceiling: str = ""  # the ceiling its FLOPs were held to, e.g. "flops_bf16_1t" (fp32's on a fallback)
    tier_speedup: float | None = None  # this machine's tier ceiling / its fp32 ceiling (None: not known)
    tier_native: bool | None = None  # whether this CPU has the tier's instructions (None: not recorded)
    notes: list[str] = field(default_factory=list)  # what a reader should know about the numbers (fallbacks)

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
    stage_tiers = session.config.get("tiers") or {}
    reports = []
    for name, st in summary.items():
        info = infos.get(name)
        threads = info.threads if info else 1
        work = dict(st["work"])
        moved = work.get("mem_bytes") or st["bytes"]
        work_for_sol = {**work, "mem_bytes": moved}
        tier = str(stage_tiers.get(name) or "f32")
        flops_name, notes = flops_ceiling(tier, threads, ceilings)
        times = {}
        bounds = {}
        for kind, amount in work_for_sol.items():
            if kind not in WORK_CEILINGS or not amount:
                continue
            one, many, bound = WORK_CEILINGS[kind]
            ceiling = ceilings.get(flops_name if kind == "flops" else many if threads > 1 else one)
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
        if work.get("flops"):
            report.notes = [f"{name}: {note}" for note in notes]
            report.flops_ceiling = flops_name
        report.tier = tier
        if tier in TIER_CEILINGS and tier != "f32":
            report.tier_speedup = tier_speedup(tier, threads, ceilings)
            report.tier_native = _tier_record(ceilings, tier).get("native")
        report.bound = classify(report, bounds)
        reports.append(report)
    return reports


def flops_ceiling(tier: str, threads: int, ceilings: dict[str, Any]) -> tuple[str, list[str]]:
    """The ceiling a stage's FLOPs at ``tier`` on ``threads`` threads are held to, and notes on a fallback: the
    tier's own where it was measured, else fp32's.

    >>> flops_ceiling("bf16", 1, {"flops_1t": 1e11, "flops_bf16_1t": 2e11})
    ('flops_bf16_1t', [])
    >>> flops_ceiling("int8", 4, {"flops_all": 1e11})[0]
    'flops_all'
    """
    f32 = TIER_CEILINGS["f32"][1 if threads > 1 else 0]
    if not ceilings:  # no ceilings at all: the report says so once, not per stage
        return f32, []
    if tier not in TIER_CEILINGS:
        return f32, [f"tier {tier!r} is not one of {', '.join(TIER_CEILINGS)}: % SOL is against the fp32 ceiling"]
    name = TIER_CEILINGS[tier][1 if threads > 1 else 0]
    record = _tier_record(ceilings, tier)
    if ceilings.get(name):
        if record.get("native") is False:
            return name, [f"this CPU has no native {tier} instructions: its {tier} ceiling is what the runtime "
                          "reaches without them"]
        return name, []
    why = "; ".join(f"{runtime}: {reason}" for runtime, reason in (record.get("skipped") or {}).items())
    return f32, [f"no {tier} ceiling measured ({why or 'ceilings from before tiers: sightspeed machine --refresh'})"
                 "; % SOL is against the fp32 ceiling"]


def _tier_record(ceilings: dict[str, Any], tier: str) -> dict[str, Any]:
    return (ceilings.get("tiers") or {}).get(tier) or {}


def tier_speedup(tier: str, threads: int, ceilings: dict[str, Any]) -> float | None:
    """How much faster this machine runs ``tier`` than fp32: the ratio of their ceilings (None when either is
    unknown). The what-if uses it for a target that lacks the tier.

    >>> tier_speedup("bf16", 1, {"flops_1t": 1e11, "flops_bf16_1t": 2e11}), tier_speedup("int8", 1, {})
    (2.0, None)
    """
    one = TIER_CEILINGS[tier][1 if threads > 1 else 0]
    f32 = TIER_CEILINGS["f32"][1 if threads > 1 else 0]
    return ceilings[one] / ceilings[f32] if ceilings.get(one) and ceilings.get(f32) else None


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
    cpu = sum(t.cpu_s for t in session.totals.values())
    return cpu / (session.wall_s * cores) if session.wall_s else 0.0
