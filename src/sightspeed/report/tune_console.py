"""Console rendering of a tune result: what was tried (speed, latency, fidelity, why skipped), the batch curves,
the notes, and the choice."""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(result, console: Console) -> None:
    """``result``: a :class:`sightspeed.tune.search.TuneResult`."""
    table = Table(title=f"tune {result.task}: {result.objective}, {result.spent_s:.0f} s of a "
                        f"{result.budget_s:.0f} s budget", title_justify="left")
    for col, justify in [("candidate", "left"), ("phase", "left"), ("items/s", "right"), ("p50 ms", "right"),
                         ("p95 ms", "right"), ("fidelity", "left"), ("", "center")]:
        table.add_column(col, justify=justify)
    chosen = result.best.label if result.best else None
    for t in result.trials:
        row = t.row()
        if t.skipped or t.error:
            verdict, note = "-", f"[dim]{escape(t.skipped or t.error)}[/dim]"
        else:
            verdict = "[green]pass[/green]" if t.passed else "[red]FAIL[/red]"
            note = escape(row["fidelity"] or "")
        label = f"[bold]{escape(t.label)}[/bold] *" if t.label == chosen else escape(t.label)
        table.add_row(label, t.phase, _num(row["items_per_s"], ".2f"), _num(row["p50_ms"], ".0f"),
                      _num(row["p95_ms"], ".0f"), note, verdict)
    console.print(table)
    for name, curve in result.curves.items():
        points = ", ".join(f"{p['batch']}: {p['ms_per_item']:.1f} ms" for p in curve["points"])
        console.print(f"batch curve ({name}, {curve['points'][0]['stage']} ms per item): {points}")
        console.print(f"  {escape(curve['reason'])}")
    if result.final:
        console.print("final rounds (alternating, shuffled; median s per pass over the inputs [min-max]):")
        for label, times in result.final.items():
            console.print(f"  {escape(label)}: {statistics.median(times):.3f} [{min(times):.3f}-{max(times):.3f}]"
                          f"{'  <- chosen' if label == chosen else ''}")
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    speedup = result.speedup
    console.print(f"chosen: [bold]{escape(chosen or 'none')}[/bold]"
                  + (f", {speedup:.2f}x the default's throughput in the final rounds" if speedup else ""))
