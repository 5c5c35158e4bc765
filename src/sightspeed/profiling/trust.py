"""Whether a profile's numbers can be trusted: plain sentences for the reader when a run was too small to.

A profile of a handful of items, or of a fraction of a second, is mostly warm-up: the first call's imports, caches
and JIT, a thread pool starting, the timer's own resolution. Its items/s, ms/item, bounds and % SOL are real
measurements of that, not of the pipeline running steadily. :func:`warnings` says so when

- the busiest stage handled fewer than ``MIN_ITEMS`` items (counted in calls where no stage counts items, as in a
  script or ``%sightspeed`` profile, whose stages count calls unless they declare ``items=``),
- the whole run took under ``MIN_WALL_S`` seconds,
- a stage that ran was called fewer than ``MIN_STAGE_CALLS`` times (its figures are a few single measurements;
  not repeated for the busiest stage when the first sentence already counted its calls).

A session whose spans were sampled (``spans_seen > len(spans)``: a long run keeps a bounded reservoir of spans
for the timeline) is *not* a warning: every figure of the report comes from the per-stage totals, which count every
span. The stage figures are read from those totals only, so a saved session warns alike when re-rendered.
"""

from __future__ import annotations

from .session import Session

MIN_ITEMS = 20  # under ~20 samples, the first (warm-up) call and single slow calls move a mean by several percent
MIN_WALL_S = 1.0  # under a second, start-up costs and timer/scheduler noise are a large share of the wall time
MIN_STAGE_CALLS = 5  # a stage with fewer calls has its ms/call from a handful of timings, the first one warm-up


def warnings(session: Session) -> list[str]:
    """Plain sentences on what in ``session`` is too small to trust; ``[]`` for a run large enough.

    >>> s = Session(wall_s=0.2)
    >>> for k in range(3):
    ...     s.record("decode", start=0.05 * k, end=0.05 * k + 0.04, items=1)
    >>> [line.split(":")[0] for line in warnings(s)]
    ['only 3 items went through the busiest stage (decode)', 'the run took 0.20 s']
    >>> s.record("load", start=0.0, end=0.01, items=0)
    >>> warnings(s)[-1]
    'stage load ran 1 time: its figures are from fewer than 5 calls'
    >>> s = Session(wall_s=5.0)
    >>> for k in range(100):
    ...     s.record("decode", start=0.04 * k, end=0.04 * k + 0.03, items=1)
    >>> warnings(s)
    []
    """
    summary = {name: st for name, st in session.stage_summary().items() if st["calls"]}
    out = []
    if not summary:
        out.append("no stage recorded a call: there are no per-stage figures to trust (mark steps with "
                   "sightspeed.stage)")
    else:
        counted = "items" if any(st["items"] for st in summary.values()) else "calls"
        busiest = max(summary, key=lambda name: (summary[name][counted], summary[name]["total_s"]))
        most = int(summary[busiest][counted])
        if most < MIN_ITEMS:
            if counted == "items":
                out.append(f"only {most} item{'s' if most != 1 else ''} went through the busiest stage ({busiest}): "
                           f"per-item times and rates from fewer than {MIN_ITEMS} are mostly warm-up; "
                           "profile more items")
            else:
                out.append(f"the busiest stage ({busiest}) ran only {most} time{'s' if most != 1 else ''} and no "
                           f"stage counted items: per-call times from fewer than {MIN_ITEMS} calls are mostly "
                           "warm-up; profile more calls")
            if summary[busiest]["calls"] < MIN_STAGE_CALLS:
                summary.pop(busiest)  # its few calls were just named: once is enough
    if session.wall_s < MIN_WALL_S:
        took = f"{session.wall_s:.2f} s" if session.wall_s >= 0.1 else f"{1000 * session.wall_s:.1f} ms"
        out.append(f"the run took {took}: under {MIN_WALL_S:g} s, start-up and timer noise weigh on every figure; "
                   "profile a longer run")
    few = [(name, int(st["calls"])) for name, st in summary.items() if st["calls"] < MIN_STAGE_CALLS]
    if len(few) == 1:
        name, calls = few[0]
        out.append(f"stage {name} ran {calls} time{'s' if calls != 1 else ''}: its figures are from fewer than "
                   f"{MIN_STAGE_CALLS} calls")
    elif few:  # one sentence for them all, not a wall of warnings
        out.append("stages " + ", ".join(f"{name} ({calls} call{'s' if calls != 1 else ''})" for name, calls in few)
                   + f" ran fewer than {MIN_STAGE_CALLS} times: their figures are from a handful of calls")
    return out
