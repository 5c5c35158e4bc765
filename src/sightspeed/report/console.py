"""Console rendering with rich: a live progress bar, and the end-of-run summary."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..pipeline.run import RunResult


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

    def on_start(total: int) -> None:
        state["task"] = bar.add_task(label, total=total)

    def on_item(row: dict) -> None:
        bar.advance(state["task"])

    with bar:
        yield on_start, on_item


def summary(result: RunResult, max_errors: int = 10) -> Table:
    """ok / failed / images/s, and per stage: ms per item, median ms per call, share of wall time."""
    s = result.session
    table = Table(title=f"{s.config.get('pipeline', 'run')}: {result.ok} ok, {result.failed} failed, "
                        f"{result.images_per_s:.2f} images/s, {s.wall_s:.2f} s wall",
                  title_justify="left")
    for col in ("stage", "calls", "ms / item", "cpu ms / item", "median ms / call", "busy % of wall"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, st in s.stage_summary().items():
        table.add_row(name, str(int(st["calls"])), f"{st['ms_per_item']:.2f}", f"{st['cpu_ms_per_item']:.2f}",
                      f"{st['median_ms_per_call']:.2f}",
                      f"{100 * st['wall_share']:.0f}")
    return table


def failures(result: RunResult, max_rows: int = 10) -> Table | None:
    bad = [r for r in result.rows if r["status"] != "ok"]
    if not bad:
        return None
    table = Table(title=f"{len(bad)} failed (all in {result.manifest})", title_justify="left")
    table.add_column("input", overflow="fold")
    table.add_column("stage")
    table.add_column("reason", overflow="fold")
    for row in bad[:max_rows]:
        table.add_row(row["input"], row.get("stage") or "", row.get("reason") or "")
    if len(bad) > max_rows:
        table.add_row(f"... and {len(bad) - max_rows} more", "", "")
    return table
