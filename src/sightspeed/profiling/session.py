"""Session: what one run did, stage by stage, span by span. Round-trips to JSON.

A span is one timed execution of a stage on a batch of items (``kind="run"``), the time a worker waited for
input (``kind="wait"``), or the time a ready call waited for a core of the run's budget (``kind="core"``). Times are seconds from the session's own start (``t0`` of its clock), so a saved session
renders the same anywhere.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from .totals import StageTotals, is_setup_only, startup_of, totals_of

Clock = Callable[[], float]
SCHEMA = "sightspeed.session/2"  # /2: per-stage totals and a bounded sample of spans (/1 still loads)
SCHEMAS = ("sightspeed.session/1", SCHEMA)
SPAN_LIMIT = 10_000  # spans kept for the timeline (a uniform sample of all of them); totals count every one


@dataclass(frozen=True, slots=True)  # slots: the Session keeps up to SPAN_LIMIT of them
class Span:
    stage: str
    thread: str
    start: float
    end: float
    items: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    kind: str = "run"
    # CPU seconds spent for the span: its own thread's plus its share of pool threads' (profiling.cpu)
    cpu: float = 0.0
    # Work done, by kind, where the code declared it (profiling.counters.add): "flops", "mem_bytes" (bytes moved,
    # replacing the bytes_in + bytes_out estimate), "disk_bytes" (read from files), "jpeg_pixels" (decoded).
    work: dict[str, float] = field(default_factory=dict)
    faults: int = 0  # minor page faults of the span's thread (fresh memory touched: a cost reused buffers avoid)
    preempted: int = 0  # involuntary context switches of the span's thread (it was runnable, a core was not free)
    saturation: float = 0.0  # the process's CPU during the span / (wall x cores): 1 = every core was busy

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class StageInfo:
    name: str
    batchable: bool = False
    threads: int = 1
    workers: int = 1


@dataclass
class Session:
    """Stages, spans, counters, machine and config of one run.

    >>> s = Session(clock=iter([1.0, 1.5, 2.0]).__next__)
    >>> s.record("decode", start=s.now(), end=s.now(), items=1)
    >>> round(s.spans[0].duration, 3)
    0.5
    >>> Session.from_dict(s.to_dict()).spans == s.spans
    True
    """

    stages: list[StageInfo] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    hotspots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # stage -> top functions (profile)
    # stage -> top lines (the sampler, profiling.frames.line_row): file, line, function, code, columns, samples,
    # seconds, cpu_s, share, category
    lines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # category -> {wall_s, cpu_s, share[, stages]}: thread time by what it was doing (profiling.frames.breakdown)
    breakdown: dict[str, dict[str, Any]] = field(default_factory=dict)
    enabled: bool = True  # False: record nothing (to measure what recording itself costs)
    instruments: list = field(default_factory=list, repr=False, compare=False)
    profiler: Any = field(default=None, repr=False, compare=False)  # the Hotspots of a profile, for stages.prof
    clock: Clock = field(default=time.perf_counter, repr=False, compare=False)
    cpu_clock: Clock = field(default=time.thread_time, repr=False, compare=False)
    t0: float | None = field(default=None, repr=False, compare=False)
    account: Any = field(default=None, repr=False, compare=False)  # a profiling.cpu.CpuAccount while running
    totals: dict[str, StageTotals] = field(default_factory=dict)  # stage -> running totals of every span
    span_limit: int = SPAN_LIMIT
    spans_seen: int = 0  # every span recorded; ``spans`` keeps a uniform sample of at most ``span_limit``
    _offered: int = field(default=0, repr=False, compare=False)  # spans offered to the sample (the reservoir's n)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.spans and not self.totals:  # built from spans (by hand, or a /1 file): count them
            self.totals = totals_of(self.spans)
            self.spans_seen = max(self.spans_seen, len(self.spans))
        self._offered = max(self._offered, self.spans_seen)  # a loaded session: as if each span seen was offered

    def now(self) -> float:
        """Seconds since the session started (the first call starts it)."""
        t = self.clock()
        if self.t0 is None:
            self.t0 = t
        return t - self.t0

    def begin_cpu(self, stage: str) -> Any:
        """Start measuring a span's CPU: every thread's, with a CpuAccount; else this thread's ``cpu_clock``."""
        return self.account.begin(stage) if self.account is not None else self.cpu_clock()

    def end_cpu(self, started: Any) -> dict[str, Any]:
        """The ``record`` keywords for what the span begun by :meth:`begin_cpu` cost."""
        if self.account is None:
            return {"cpu": self.cpu_clock() - started}
        cost = self.account.end(started)
        return {"cpu": cost.cpu, "faults": cost.faults, "preempted": cost.preempted, "saturation": cost.saturation}

    def record(self, stage: str, start: float, end: float, items: int = 0, bytes_in: int = 0,
               bytes_out: int = 0, kind: str = "run", thread: str | None = None, cpu: float = 0.0,
               work: dict[str, float] | None = None, faults: int = 0, preempted: int = 0,
               saturation: float = 0.0) -> None:
        if not self.enabled:
            return
        span = Span(stage, thread or threading.current_thread().name, start, end, items, bytes_in, bytes_out, kind,
                    cpu, dict(work) if work else {}, faults, preempted, saturation)
        with self._lock:
            totals = self.totals.get(stage)
            if totals is None:
                totals = self.totals[stage] = StageTotals()
            totals.add(span)
            self.spans_seen += 1
            self._offer(span)

    def _offer(self, span: Span) -> None:
        """Reservoir sampling (under the lock): every span offered so far is equally likely to be kept."""
        self._offered += 1
        if len(self.spans) < self.span_limit:
            self.spans.append(span)
        else:
            k = self._rng.randrange(self._offered)
            if k < self.span_limit:
                self.spans[k] = span

    def merge(self, totals: dict[str, StageTotals], seen: int, sample: list[Span]) -> None:
        """Add another recorder's running totals of ``seen`` spans and a uniform sample of them (each span kept
        with the same probability): a Ray actor's, streamed per batch. The totals count every span; the sample only
        feeds this session's bounded reservoir, so a run's summary is exact whatever fraction crossed over.

        >>> a, b = Session(), Session()
        >>> a.record("decode", 0.0, 0.5, items=1); a.record("decode", 0.5, 1.0, items=1)
        >>> b.merge(a.totals, a.spans_seen, a.spans[:1])
        >>> b.stage_summary()["decode"]["calls"], b.spans_seen, len(b.spans)
        (2, 2, 1)
        """
        with self._lock:
            for stage, found in totals.items():
                self.totals.setdefault(stage, StageTotals()).merge(found)
            self.spans_seen += seen
            for span in sample:
                self._offer(span)

    def count(self, name: str, value: float = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + value

    # ----- summaries the renderers use -------------------------------------------------------------------------
    def stage_names(self) -> list[str]:
        """Declared stages first, then any other stage that has spans (e.g. user code's ``stage()`` blocks); start-up
        steps (``kind="setup"`` spans only, timed before 0) are not stages (:meth:`startup` has them)."""
        declared = [s.name for s in self.stages]
        names = dict.fromkeys(declared + list(self.totals) + [s.stage for s in self.spans if s.kind != "setup"])
        return [n for n in names if n in declared or not is_setup_only(self.totals.get(n, StageTotals()))]

    def startup(self) -> dict[str, float]:
        """Start-up step -> seconds (model fetch, load, compile, warm-up), in the order they ran."""
        return startup_of(self.totals)

    def stage_summary(self) -> dict[str, dict[str, Any]]:
        """Per stage: calls, items, total and CPU seconds, ms per item, median ms per call, share of wall time,
        bytes in/out, declared work (summed), the seconds spent waiting for input and for a core, page faults,
        preemptions, and how busy the cores were meanwhile."""
        return {name: self.totals.get(name, StageTotals()).summary(self.wall_s) for name in self.stage_names()}

    # ----- JSON -------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "sightspeed": __version__,
            "config": self.config,
            "machine": self.machine,
            "wall_s": self.wall_s,
            "counters": self.counters,
            "hotspots": self.hotspots,
            "lines": self.lines,
            "breakdown": self.breakdown,
            "stages": [asdict(s) for s in self.stages],
            "totals": {name: t.to_dict() for name, t in self.totals.items()},
            "spans_seen": self.spans_seen,
            "span_fields": list(Span.__dataclass_fields__),
            "spans": [list(asdict(s).values()) for s in self.spans],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        if data.get("schema") not in SCHEMAS:
            raise ValueError(f"not a sightspeed session (schema {data.get('schema')!r}, expected {SCHEMA!r})")
        fields = data["span_fields"]
        known = set(Span.__dataclass_fields__)
        spans = [Span(**{k: v for k, v in zip(fields, row) if k in known}) for row in data["spans"]]
        return cls(
            stages=[StageInfo(**s) for s in data["stages"]],
            spans=spans,
            counters=dict(data["counters"]),
            machine=dict(data["machine"]),
            config=dict(data["config"]),
            wall_s=float(data["wall_s"]),
            hotspots=dict(data.get("hotspots", {})),
            lines=dict(data.get("lines", {})),  # absent in files from before the sampler
            breakdown=dict(data.get("breakdown", {})),
            totals={k: StageTotals.from_dict(v) for k, v in data.get("totals", {}).items()},
            spans_seen=int(data.get("spans_seen", len(spans))),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the session as JSON to ``path`` atomically (:func:`sightspeed.files.replace_exclusively`: a
        temporary file created exclusively, never through a symlink, fsynced, then renamed into place). A full disk
        leaves no torn file, and the OSError names the file."""
        from ..files import replace_exclusively

        path = Path(path)
        replace_exclusively(str(path.absolute()), json.dumps(self.to_dict()).encode())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Session:
        return cls.from_dict(json.loads(Path(path).read_text()))


def machine_summary() -> dict[str, Any]:
    """A cheap description of this machine, embedded in every session: :func:`sightspeed.host.describe` (cpu,
    memory, system, fingerprint; the full probe is :func:`sightspeed.profiling.doctor.report`)."""
    from ..host import describe

    return describe()
