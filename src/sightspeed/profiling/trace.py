"""Chrome trace / Perfetto export: one track per thread, a slice per span; waits are their own slices, start-up steps
(``kind="setup"``, timed before the run's 0) too, and every timestamp is shifted so the earliest is 0."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .session import Session


def chrome_trace(session: Session) -> dict[str, Any]:
    """The session as Chrome's Trace Event format (load in ui.perfetto.dev or chrome://tracing)."""
    threads = {name: k + 1 for k, name in enumerate(dict.fromkeys(s.thread for s in session.spans))}
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": session.config.get("pipeline", "sightspeed")}}]
    for name, tid in threads.items():
        events.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}})
    origin = min([0.0] + [s.start for s in session.spans])  # start-up spans lie before 0
    for s in session.spans:
        waiting = s.kind == "wait"
        args: dict[str, Any] = {"items": s.items, "bytes_in": s.bytes_in, "bytes_out": s.bytes_out,
                                "cpu_ms": round(1000 * s.cpu, 3)}
        args.update(s.work)
        events.append({"ph": "X", "name": f"wait for {s.stage}" if waiting else s.stage,
                       "cat": "wait" if waiting else "setup" if s.kind == "setup" else "stage", "pid": 1,
                       "tid": threads[s.thread], "ts": round((s.start - origin) * 1e6, 3), "dur": round(max(s.duration, 0.0) * 1e6, 3),
                       "args": {} if waiting else args})
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_chrome_trace(session: Session, path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(chrome_trace(session)))
    return path
