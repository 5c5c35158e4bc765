"""`sightspeed compare --html`: the comparison as one self-contained HTML file (the report's style, no script): the
verdict and warnings, each side's machine and ceilings when they differ, the stages' speed-ups and regressions."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from . import svg
from .compare import MACHINE_COLUMNS, MACHINES_TITLE, Comparison, machine_rows
from .html import CSS, _section, _table


def render(c: Comparison, a_name: str = "A", b_name: str = "B") -> str:
    rows = c.stages + [c.end_to_end]
    table = _table(["stage", "A ms/item", "B ms/item", "speed-up", "noise", "bound A -> B", "verdict"], [
        [escape(s.name), _ms(s.ms_a), _ms(s.ms_b), f"{s.speedup:.2f}x" if s.speedup else "-", f"+-{100 * s.noise:.1f}%",
         escape(f"{s.bound_a} -> {s.bound_b}" if s.bound_changed else s.bound_b), _verdict(s, c.threshold)]
        for s in rows])
    chart = svg.bars([(s.name, s.speedup, s.verdict) for s in rows if s.speedup], "x",
                     "speed-up of B over A, per stage (1 = no change)", 1.0, "no change")
    warn = "".join(f"<div class=warn>{escape(w)}</div>" for w in c.warnings)
    sides = [[escape(cell) for cell in row] for row in machine_rows(c)]  # [] on the same machine
    machines = _section("machines", MACHINES_TITLE, _table(list(MACHINE_COLUMNS), sides, left=2)) if sides else ""
    head = (f"<p class=verdict>{'Regressed' if c.regressed() else 'No regression'} beyond "
            f"{100 * c.threshold:.0f}% and the noise: B = {escape(b_name)} against A = {escape(a_name)}.</p>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>sightspeed compare</title>"
            f"<style>{CSS}</style></head><body><h1>sightspeed compare</h1>"
            + _section("verdict", "Verdict", head + warn) + machines + _section("stages", "Stages", chart + table)
            + "</body></html>")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _verdict(s, threshold: float) -> str:
    return f"<b style='color:#c00'>{escape(s.verdict)}</b>" if s.regressed(threshold) else escape(s.verdict)


def write(c: Comparison, path: str | os.PathLike[str], a_name: str = "A", b_name: str = "B") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(c, a_name, b_name), encoding="utf-8")
    return path
