"""Console rendering with rich: a live progress bar, the end-of-run summary of a Session, a run's failures
(its manifest rows) and the machine's ceilings. The summary reads only the Session, so a saved session.json
renders like a live run."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..profiling.session import Session


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        # items done over time elapsed: rich's own windowed estimate jumps wildly on short runs
        elapsed = task.finished_time if task.finished else task.elapsed
        speed = task.completed / elapsed if elapsed else 0.0
        return Text(f"{speed:.1f} img/s" if speed else "- img/s", style="cyan")


@contextmanager
def progress(console: Console, label: str) -> Iterator[tuple[Callable[[int], None], Callable[[dict], None]]]:
    """Yields (on_start(total), on_item(row)) callbacks for :func:`sightspeed.run`."""
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                   TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False)
    state: dict[str, int] = {}

    def on_start(total: int | None) -> None:  # None first (inputs still being listed), then the count
        if "task" in state:
            bar.update(state["task"], total=total)
        else:
            state["task"] = bar.add_task(label, total=total)

    def on_item(row: dict) -> None:
        bar.advance(state["task"])

    with bar:
        yield on_start, on_item


def _split(session: Session) -> dict[str, str]:
    """stage -> "workers x threads", from the Session's stages (the executor's split of the core budget)."""
    return {s.name: f"{s.workers} x {s.threads}" for s in session.stages}


def budget_line(session: Session) -> str | None:
    """The run's core budget and how it was split, or None when the session does not record one."""
    cores = session.config.get("cores")
    if cores is None:
        return None
    threads = sum(s.workers * s.threads for s in session.stages)
    if session.config.get("oversubscribe"):
        return f"core budget: {cores} cores, oversubscribed: all {threads} threads of the split may work at once"
    return f"core budget: {cores} cores: {threads} threads in the split, at most {cores} working at once"


def _startup(session: Session) -> dict[str, float]:
    """The start-up steps (names with ``kind="setup"`` time in the session's totals) and their seconds, in the
    order they were recorded."""
    return {name: t.setup_s for name, t in session.totals.items() if getattr(t, "setup_s", 0.0) > 0}


def startup_line(session: Session) -> str | None:
    """Start-up (its steps, from the session's ``setup`` spans) beside processing, and what the wall time covers;
    None when the session records no start-up (a saved session from before it was recorded).

    >>> s = Session(wall_s=1.12)
    >>> s.record("load ocr models", -3.1, -0.2, kind="setup"); s.record("worker set-up", -0.2, 0.0, kind="setup")
    >>> startup_line(s).partition(": ")[0]
    'start-up 3.10 s (load ocr models 2.90 s, worker set-up 0.20 s) + processing 1.12 s'
    """
    steps = _startup(session)
    if not steps:
        return None
    shown = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items())
    return (f"start-up {sum(steps.values()):.2f} s ({shown}) + processing {session.wall_s:.2f} s: the wall time "
            "and the rate count processing only (first input read to last output written)")


def rate_text(session: Session) -> str:
    """The run's throughput over its processing wall time: images/s, or frames/s when it read video (items/s,
    images and frames together, when both)."""
    wall = session.wall_s
    ok, failed = int(session.counters.get("ok", 0)), int(session.counters.get("failed", 0))
    frames = int(session.counters.get("frames", 0))
    if not frames:
        return f"{(ok + failed) / wall if wall else 0.0:.2f} images/s"
    images = int(session.counters.get("images", 0))
    if images:
        return f"{images} images + {frames} video frames, {(images + frames) / wall if wall else 0.0:.2f} items/s"
    return f"{frames} frames, {frames / wall if wall else 0.0:.2f} frames/s"


def summary(session: Session) -> Table:
    """ok / failed / images/s (frames/s for video), the processing wall time, the start-up beside it, the core
    budget, and per stage: workers x threads, ms per item, cpu ms per item, median ms per call, share of wall
    time. Reads only the Session (its ``counters``, ``config``, ``stages``, ``totals``)."""
    ok, failed = int(session.counters.get("ok", 0)), int(session.counters.get("failed", 0))
    caption = "\n".join(line for line in (startup_line(session), budget_line(session)) if line) or None
    table = Table(title=f"{session.config.get('pipeline', 'run')}: {ok} ok, {failed} failed, {rate_text(session)}, "
                        f"{session.wall_s:.2f} s wall of processing", title_justify="left", caption=caption,
                  caption_justify="left")
    split = _split(session)
    columns = ["stage", *(["workers x threads"] if split else []), "calls", "ms / item", "cpu ms / item",
               "median ms / call", "busy % of wall"]
    for col in columns:
        table.add_column(col, justify="left" if col == "stage" else "right")
    steps = _startup(session)
    for name, st in session.stage_summary().items():
        if name in steps and not (st["calls"] or st["wait_s"] or st["core_wait_s"]):  # a start-up step: in the
            continue  # caption, not a stage
        table.add_row(name, *([split.get(name, "-")] if split else []), str(int(st["calls"])),
                      f"{st['ms_per_item']:.2f}", f"{st['cpu_ms_per_item']:.2f}", f"{st['median_ms_per_call']:.2f}",
                      f"{100 * st['wall_share']:.0f}")
    return table


def failures(rows: Iterable[dict], manifest: str | None = None, max_rows: int = 10) -> Table | None:
    """The failed rows of a run's manifest (``manifest.jsonl`` rows: input, status, stage, reason), or None."""
    bad = [r for r in rows if r["status"] != "ok"]
    if not bad:
        return None
    table = Table(title=f"{len(bad)} failed" + (f" (all in {manifest})" if manifest else ""), title_justify="left")
    table.add_column("input", overflow="fold")
    table.add_column("stage")
    table.add_column("reason", overflow="fold")
    for row in bad[:max_rows]:
        table.add_row(row["input"], row.get("stage") or "", row.get("reason") or "")
    if len(bad) > max_rows:
        table.add_row(f"... and {len(bad) - max_rows} more", "", "")
    return table


def _shown(value: float, unit: str) -> str:
    """``1.23e11, "FLOP/s"`` -> ``"123.00 GFLOP/s"``; pixels per second in MP/s."""
    if unit == "px/s":
        return f"{value / 1e6:,.2f} MP/s"
    return f"{value / 1e9:,.2f} G{unit}"


def machine_table(result: dict[str, Any], units: dict[str, tuple[str, str]], title: str = "ceilings") -> Table:
    """Ceilings (what :func:`sightspeed.profiling.machine.ceilings` returns, or a Session's
    ``machine["ceilings"]``) as a table, in the order and units of ``units`` (``name -> (unit, what it bounds)``:
    ``machine.CEILINGS``): value, what it bounds, and for a precision tier's ceiling (``flops_<tier>_1t|all`` of a
    tier the ``tiers`` record names) the runtime that reached it and whether the CPU runs the tier natively. A tier
    no installed runtime could run shows why instead of a number.

    >>> console = Console(width=150)
    >>> with console.capture() as shown:
    ...     console.print(machine_table({"flops_1t": 1e11, "flops_int8_1t": None,
    ...                   "tiers": {"int8": {"native": True, "skipped": {"onnx": "not installed"}}}},
    ...                   {"flops_1t": ("FLOP/s", "compute"), "flops_int8_1t": ("OP/s", "compute")}))
    >>> "100.00 GFLOP/s" in shown.get() and "not measured: onnx: not installed" in shown.get()
    True
    """
    records = result.get("tiers") or {}
    tier_of = {f"flops_{tier}_{threads}": tier for tier in records for threads in ("1t", "all")}
    table = Table(title=title, title_justify="left")
    for col in ("ceiling", "value", "bounds", "through"):
        table.add_column(col, overflow="fold")
    for name, (unit, bound) in units.items():
        if name not in result:
            continue
        tier = tier_of.get(name)
        record = records.get(tier) or {}
        value = result[name]
        if value is None:
            why = "; ".join(f"{k}: {v}" for k, v in (record.get("skipped") or {}).items()) or "no runtime"
            table.add_row(name, f"not measured: {why}", bound, "")
            continue
        through = ""
        if tier:
            runs = record.get("runtimes") or {}
            best = max(runs, key=lambda r: runs[r].get(name) or 0.0, default="")
            native = record.get("native")
            through = f"{best} {runs.get(best, {}).get('version') or ''}".strip() + (
                ", native" if native else ", not native" if native is False else "")
        table.add_row(name, _shown(value, unit), f"{bound} ({tier})" if tier else bound, through)
    return table
