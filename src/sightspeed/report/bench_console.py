"""Console table of ``sightspeed bench kernels`` rows."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..kernels.bench import Row


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(rows: list[Row], console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col, justify in [("op", "left"), ("backend", "left"), ("median ms", "right"), ("min", "right"),
                         ("max", "right"), ("GB/s", "right"), ("% SOL", "right"), ("max |diff|", "right"),
                         ("pick", "center"), ("note", "left")]:
        table.add_column(col, justify=justify)
    last = None
    for r in rows:
        if last is not None and r.op != last:
            table.add_section()
        last = r.op
        diff = _num(r.max_abs_diff, ".3g")
        if r.within_tolerance is False:
            diff = f"[red]{diff} (over tolerance)[/red]"
        table.add_row(r.op, r.backend, _num(r.median_ms, ".3f"), _num(r.min_ms, ".3f"), _num(r.max_ms, ".3f"),
                      _num(r.gb_s, ".1f"), _num(r.sol_pct, ".0f"), diff, "*" if r.picked else "",
                      "" if r.available else f"[dim]{escape(r.note)}[/dim]")
    console.print(table)
