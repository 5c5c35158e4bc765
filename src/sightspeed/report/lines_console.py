"""Console rendering of what the line sampler found (``Session.lines``, ``Session.breakdown``): the top lines of
each stage with the expression that was running marked under its source, the thread time by category with bounds
where the work is known, and which unannotated lines deserve a ``sightspeed.stage()`` of their own."""

from __future__ import annotations

import os

from rich.table import Table
from rich.text import Text

from ..profiling.analysis import StageReport
from ..profiling.session import Session

WIDTH = 88  # of the source excerpt
HINT_SHARE = 0.05  # a line outside any stage with at least this share of the run's wall time is worth a stage


def excerpt(code: str, columns: list[int] | None, width: int = WIDTH) -> tuple[str, int, int]:
    """``code`` cut to ``width`` characters around the marked columns: (text, start, end) with start/end the marked
    span within the text (0, 0 when nothing is marked).

    >>> excerpt("y = (x.astype(np.float32) ** 1.2)", [5, 32])
    ('y = (x.astype(np.float32) ** 1.2)', 5, 32)
    >>> excerpt("a" * 100 + " + b", [0, 104], width=20)[1:]
    (0, 20)
    """
    if not columns:
        return (code if len(code) <= width else code[:width - 1] + "…"), 0, 0
    start, end = columns
    if len(code) <= width:
        return code, start, end
    left = max(0, min(start - 8, len(code) - width))
    text = code[left:left + width]
    return text, max(0, start - left), min(len(text), end - left)


def marked(code: str, columns: list[int] | None, width: int = WIDTH) -> Text:
    """The source line with the running expression in bold, and a line of carets under it."""
    text, start, end = excerpt(code, columns, width)
    out = Text(text)
    if end > start:
        out.stylize("bold", start, end)
        out.append("\n" + " " * start + "^" * (end - start), style="red")
    return out


def _where(row: dict) -> str:
    return f"{os.path.basename(row['file']) if not row['file'].startswith('<') else row['file']}:{row['line']}"


def top_line(session: Session, stage: str) -> str | None:
    """``app.py:12 85%``: the stage's most sampled line, for the stage table's hotspot column."""
    rows = session.lines.get(stage)
    return f"{_where(rows[0])} {100 * rows[0]['share']:.0f}%" if rows else None


def lines_table(session: Session, top: int = 3) -> Table | None:
    """The top ``top`` lines of each stage by sampled time."""
    if not session.lines:
        return None
    interval = session.config.get("sample_interval_s")
    title = "hotspots: the lines each stage spent its time on, all threads (sampled" + \
        (f" every {1000 * interval:g} ms" if interval else "") + "; marked: the expression running)"
    table = Table(title=title, title_justify="left")
    for col in ("stage", "% of stage", "ms", "where", "function", "line", "doing"):
        if col == "line":  # never folded: the carets must stay under the expression they mark
            table.add_column(col, no_wrap=True, overflow="ellipsis", min_width=24)
        else:
            table.add_column(col, justify="right" if col in ("% of stage", "ms") else "left", overflow="fold")
    order = [s for s in session.stage_names() if s in session.lines] + \
        [s for s in session.lines if s not in session.stage_names()]
    implicit = (session.config.get("implicit") or {}).get("stages") or {}  # stage -> its category
    for stage in order:
        for k, row in enumerate(session.lines[stage][:top]):
            table.add_row(stage if k == 0 else "", f"{100 * row['share']:.0f}", f"{1000 * row['seconds']:,.0f}",
                          _where(row), row["function"], marked(row["code"], row.get("columns")),
                          implicit.get(stage) or row.get("category", ""))
    return table


def breakdown_table(session: Session, reports: list[StageReport]) -> Table | None:
    """Thread time by category; an implicit stage's category carries the bound and % SOL of its stages."""
    if not session.breakdown:
        return None
    by_name = {r.name: r for r in reports}
    table = Table(title="where the time went: thread time by what it was doing (implicit stages from their spans, "
                  "the rest sampled)", title_justify="left")
    for col in ("doing", "wall s", "% of time", "cpu s", "cpu/wall", "bound", "% SOL", "stages"):
        table.add_column(col, justify="left" if col in ("doing", "bound", "stages") else "right", overflow="fold")
    for cat, entry in session.breakdown.items():
        stages = [by_name[s] for s in entry.get("stages", []) if s in by_name]
        bound, pct = "-", "-"
        if stages:
            biggest = max(stages, key=lambda r: r.total_s)
            bound = biggest.bound
            service = sum(r.service_s for r in stages)
            sol = sum(r.sol_s for r in stages)
            pct = f"{100 * sol / service:.0f}" if sol and service else "-"
        cpu = entry.get("cpu_s")
        wall = entry["wall_s"]
        table.add_row(cat, f"{wall:.2f}", f"{100 * entry.get('share', 0.0):.0f}",
                      "-" if cpu is None else f"{cpu:.2f}", f"{cpu / wall:.2f}" if cpu is not None and wall else "-",
                      bound, pct, ", ".join(entry.get("stages", [])))
    return table


def wrap_hints(session: Session, top: int = 3, min_share: float = HINT_SHARE) -> list[dict]:
    """The lines outside any stage (stages named ``(script)``, ``(main)``) with at least ``min_share`` of the
    run's wall time, most first: the ones worth wrapping in ``sightspeed.stage()``."""
    if not session.wall_s:
        return []
    rows = [row for stage, rows in session.lines.items() if stage.startswith("(") for row in rows]
    rows = [row for row in rows if row["seconds"] / session.wall_s >= min_share]
    return sorted(rows, key=lambda r: -r["seconds"])[:top]


def hint_text(session: Session) -> str | None:
    rows = wrap_hints(session)
    if not rows:
        return None
    named = "; ".join(f"{_where(r)} `{r['code']}` ({100 * r['seconds'] / session.wall_s:.0f}% of the run)"
                      for r in rows)
    return (f"hint: outside any stage, {named}. Wrap such a line (or its loop) in `with sightspeed.stage(\"name\"):` "
            "to give it a row of its own, with its bound and % SOL (`bytes=` / `flops=` declare its work).")


def render_lines(console, session: Session, reports: list[StageReport]) -> None:
    """The lines table, the breakdown and the hint, each when the session has it."""
    for table in (lines_table(session), breakdown_table(session, reports)):
        if table is not None:
            console.print(table)
    hint = hint_text(session)
    if hint:
        console.print(hint)
