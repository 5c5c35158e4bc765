"""The report's timeline overview: the session's spans folded into a fixed number of blocks per thread, so the
picture (and the HTML) stays the same size for 1,000 items or 100,000.

Each lane (a thread) is cut into ``bins`` equal slices of the run's wall time; a slice shows the stage that ran
longest in it, shaded by how much of the slice any stage ran. A session keeps a uniform sample of its spans
(``Session.spans``, at most ``SPAN_LIMIT``): busy time is scaled by ``spans_seen / kept``, so a sampled run draws
the same shares, estimated.
"""

from __future__ import annotations

from collections import defaultdict

from ..profiling.session import Session

MAX_LANES = 24  # beyond it, the lanes with the least busy time are left out (and the caption says how many)


def blocks(session: Session, bins: int = 120) -> tuple[list[tuple[str, list[tuple[float, float, int, float]]]], int]:
    """(lanes, lanes left out): each lane is (thread, [(start, end, stage index, busy 0..1)]), neighbouring slices
    of the same stage and shade merged."""
    wall = session.wall_s or max((s.end for s in session.spans), default=0.0)
    if wall <= 0:
        return [], 0
    order = {name: k for k, name in enumerate(session.stage_names())}
    scale = session.spans_seen / len(session.spans) if session.spans else 1.0
    width = wall / bins
    busy: dict[str, list[dict[str, float]]] = defaultdict(lambda: [defaultdict(float) for _ in range(bins)])
    for span in session.spans:
        if span.kind != "run" or span.end <= span.start:
            continue
        lane = busy[span.thread]
        first, last = int(span.start / width), min(bins - 1, int(span.end / width))
        for b in range(max(0, first), last + 1):
            overlap = min(span.end, (b + 1) * width) - max(span.start, b * width)
            if overlap > 0:
                lane[b][span.stage] += overlap * scale
    ranked = sorted(busy, key=lambda t: -sum(sum(s.values()) for s in busy[t]))
    kept = sorted(ranked[:MAX_LANES], key=_thread_order)
    lanes = []
    for thread in kept:
        merged: list[list] = []
        for b, slice_ in enumerate(busy[thread]):
            if not slice_:
                continue
            stage = max(slice_, key=slice_.get)
            shade = round(min(1.0, sum(slice_.values()) / width) * 4) / 4 or 0.25
            index = order.get(stage, len(order))
            if merged and merged[-1][2] == index and merged[-1][3] == shade and abs(merged[-1][1] - b * width) < 1e-9:
                merged[-1][1] = (b + 1) * width
            else:
                merged.append([b * width, (b + 1) * width, index, shade])
        lanes.append((thread, [tuple(m) for m in merged]))
    return lanes, max(0, len(ranked) - MAX_LANES)


def _thread_order(name: str) -> tuple[int, str]:
    return (0 if name == "MainThread" else 1, name)
