"""Small inline SVG charts for the HTML report: no library, text kept as text (searchable, selectable), a few KB
each. Every function returns one ``<svg>`` element as a string; colours come from the stage's index in
:data:`PALETTE`, so a stage has one colour in every chart.
"""

from __future__ import annotations

import math
from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(width: int, height: int, title: str, body: list[str], css_class: str) -> str:
    return (f'<svg class="chart {css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" {FONT}><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def stacked_bars(rows: list[tuple[str, list[float], str]], parts: list[str], unit: str, title: str,
                 part_colours: list[str] | None = None) -> str:
    """Horizontal bars, one per row: ``(label, values per part, note at the end)``; a legend names ``parts``. A row
    without values is its label and note only (a figure not on the bars' scale)."""
    label_w, bar_w, row_h, note_w = 130, 420, 24, 260
    width, height = label_w + bar_w + note_w, 40 + row_h * len(rows) + 20
    top = max((sum(v) for _, v, _ in rows), default=0.0) or 1.0
    colours = part_colours or PALETTE
    body = []
    for k, part in enumerate(parts):  # legend
        x = label_w + k * 140
        body.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colours[k % len(colours)]}"/>')
        body.append(_text(x + 16, 16, part))
    for i, (label, values, note) in enumerate(rows):
        y = 32 + i * row_h
        body.append(_text(label_w - 8, y + 15, label, "end"))
        x = float(label_w)
        for k, value in enumerate(values):
            w = bar_w * value / top
            if w > 0:
                body.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                            f'fill="{colours[k % len(colours)]}"><title>{escape(label)}: {escape(parts[k])} '
                            f'{_fmt(value)} {escape(unit)}</title></rect>')
            x += w
        body.append(_text(x + 6, y + 15, f"{_fmt(sum(values))} {unit}  {note}".rstrip() if values else note))
    return _svg(width, height, title, body, "stacked")


def bars(rows: list[tuple[str, float, str]], unit: str, title: str, marker: float | None = None,
         marker_label: str = "") -> str:
    """Horizontal bars ``(label, value, note)``; ``marker``: a dashed vertical line at that value (e.g. measured)."""
    label_w, bar_w, row_h, note_w = 130, 420, 24, 230
    width, height = label_w + bar_w + note_w, 24 + row_h * len(rows) + (18 if marker else 4)
    top = max([v for _, v, _ in rows] + [marker or 0.0]) or 1.0
    body = []
    for i, (label, value, note) in enumerate(rows):
        y = 8 + i * row_h
        w = bar_w * value / top
        body.append(_text(label_w - 8, y + 15, label, "end"))
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{colour(i)}"/>')
        body.append(_text(label_w + w + 6, y + 15, f"{_fmt(value)} {unit}  {note}".rstrip()))
    if marker:
        x = label_w + bar_w * marker / top
        bottom = 8 + row_h * len(rows)
        body.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>')
        body.append(_text(x, bottom + 14, marker_label, "middle"))
    return _svg(width, height, title, body, "bars")


class _LogAxis:
    def __init__(self, lo: float, hi: float, start: float, length: float, flip: bool = False) -> None:
        self.lo, self.hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        self.hi = max(self.hi, self.lo + 1)
        self.start, self.length, self.flip = start, length, flip

    def __call__(self, value: float) -> float:
        f = (math.log10(max(value, 10.0 ** self.lo)) - self.lo) / (self.hi - self.lo)
        return self.start + (1 - f if self.flip else f) * self.length

    def decades(self) -> list[float]:
        return [10.0 ** e for e in range(self.lo, self.hi + 1)]


def roofline(points: list[tuple[str, float, float, int]], roofs: list[tuple[str, float, float]], title: str) -> str:
    """Log-log roofline. ``points``: (stage, FLOP per byte, achieved GFLOP/s, colour index); ``roofs``: (label,
    memory GB/s, peak GFLOP/s): the slope ``GB/s x intensity`` meets the flat peak at the ridge point."""
    left, top, w, h = 60, 14, 520, 300
    xs = [p[1] for p in points] + [r[2] / r[1] for r in roofs if r[1]]
    ys = [p[2] for p in points] + [r[2] for r in roofs]
    x = _LogAxis(min(xs + [0.1]) / 3, max(xs + [100.0]) * 3, left, w)
    y = _LogAxis(min(ys + [1.0]) / 3, max(ys) * 3, top, h, flip=True)
    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for d in x.decades():
        body.append(f'<line x1="{x(d):.1f}" y1="{top}" x2="{x(d):.1f}" y2="{top + h}" stroke="#eee"/>')
        body.append(_text(x(d), top + h + 14, f"{d:g}", "middle"))
    for d in y.decades():
        body.append(f'<line x1="{left}" y1="{y(d):.1f}" x2="{left + w}" y2="{y(d):.1f}" stroke="#eee"/>')
        body.append(_text(left - 4, y(d) + 4, f"{d:g}", "end"))
    body.append(_text(left + w / 2, top + h + 30, "arithmetic intensity (FLOP per byte moved)", "middle"))
    body.append(_text(14, top + h / 2, "GFLOP/s", "middle", f'transform="rotate(-90 14 {top + h / 2})"'))
    x_lo, x_hi = 10.0 ** x.lo, 10.0 ** x.hi
    for k, (label, bw, peak) in enumerate(roofs):
        dash = "" if k == 0 else ' stroke-dasharray="5 3"'
        ridge = peak / bw if bw else x_lo
        pts = [(x_lo, bw * x_lo), (ridge, peak), (x_hi, peak)] if bw else [(x_lo, peak), (x_hi, peak)]
        path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="#555" stroke-width="1.5"{dash}/>')
        body.append(_text(x(x_hi) - 4, y(peak) - 4, label, "end", 'fill="#555"'))
    placed: list[tuple[float, float]] = []
    for name, intensity, gflops, index in sorted(points, key=lambda p: -p[2]):
        cx, cy = x(intensity), y(gflops)
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{colour(index)}"><title>{escape(name)}: '
                    f'{intensity:.2f} FLOP/B, {gflops:.1f} GFLOP/s</title></circle>')
        ly = cy + 4
        while any(abs(ly - py) < 13 and abs(cx - px) < 90 for px, py in placed):  # keep labels apart
            ly += 13
        placed.append((cx, ly))
        body.append(_text(cx + 9, ly, name))
    return _svg(left + w + 20, top + h + 40, title, body, "roofline")


def lines(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str, title: str) -> str:
    """Line chart on linear axes (batch curves: batch size -> ms per item), one line per series."""
    left, top, w, h = 60, 24, 440, 200
    pts = [p for s in series.values() for p in s] or [(0.0, 0.0)]
    x_hi = max(p[0] for p in pts) or 1.0
    y_hi = max(p[1] for p in pts) * 1.1 or 1.0
    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
            _text(left + w / 2, top + h + 30, x_label, "middle"),
            _text(14, top + h / 2, y_label, "middle", f'transform="rotate(-90 14 {top + h / 2})"'),
            _text(left - 4, top + 4, _fmt(y_hi), "end"), _text(left - 4, top + h + 4, "0", "end")]
    for k, (name, points) in enumerate(series.items()):
        coords = [(left + w * a / x_hi, top + h - h * b / y_hi) for a, b in points]
        body.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in coords)}" fill="none" '
                    f'stroke="{colour(k)}" stroke-width="2"/>')
        for (a, b), (xa, yb) in zip(points, coords):
            body.append(f'<circle cx="{xa:.1f}" cy="{yb:.1f}" r="3.5" fill="{colour(k)}"/>')
            body.append(_text(xa, top + h + 14, f"{a:g}", "middle"))
        body.append(_text(left + 8, top + 14 + 14 * k, name, extra=f'fill="{colour(k)}"'))
    return _svg(left + w + 20, top + h + 40, title, body, "lines")


def lanes(rows: list[tuple[str, list[tuple[float, float, int, float]]]], wall_s: float, names: list[str],
          title: str) -> str:
    """A timeline overview: one lane per thread, made of ``(start s, end s, stage index, busy 0..1)`` blocks (the
    caller aggregates spans into blocks, so the chart stays small for any run length)."""
    label_w, w, lane_h = 110, 640, 18
    height = 30 + lane_h * len(rows) + 26
    body = []
    for k, name in enumerate(names):  # legend
        x = label_w + k * 110
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colour(k)}"/>')
        body.append(_text(x + 16, 14, name))
    scale = w / wall_s if wall_s else 0.0
    for i, (thread, blocks) in enumerate(rows):
        y = 24 + i * lane_h
        body.append(_text(label_w - 6, y + 13, thread, "end"))
        body.append(f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{lane_h - 4}" fill="#f4f4f4"/>')
        for start, end, index, busy in blocks:
            body.append(f'<rect x="{label_w + start * scale:.1f}" y="{y + 2}" width="{max(0.5, (end - start) * scale):.1f}" '
                        f'height="{lane_h - 4}" fill="{colour(index)}" fill-opacity="{busy:.2f}"/>')
    bottom = 24 + lane_h * len(rows) + 14
    body.append(_text(label_w, bottom, "0 s"))
    body.append(_text(label_w + w, bottom, f"{wall_s:.2f} s", "end"))
    return _svg(label_w + w + 10, height, title, body, "lanes")
