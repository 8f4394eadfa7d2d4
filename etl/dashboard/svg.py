"""Charts as inline SVG, written in Python: no chart library, no script, nothing to fetch.

Every chart is a <figure> holding one <svg viewBox> that scales to its container; each bar or
point carries a <title> (the browser's tooltip) with its exact value, and the figure has a
caption, so the numbers are readable without hovering too. All text goes through escape().
"""
from __future__ import annotations

import math
from datetime import date
from html import escape

WIDTH = 720
FONT = 11


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def number(n: int | float | None) -> str:
    if n is None:
        return "–"
    return f"{n:,}" if isinstance(n, int) or float(n).is_integer() else f"{n:,.1f}"


def _fmt(value, unit: str) -> str:
    return human_bytes(value) if unit == "bytes" else number(int(value) if float(value).is_integer() else value)


def _nice_max(value: float) -> tuple[float, float]:
    """(axis maximum, tick step) for 4-5 ticks at 1/2/5 x 10^k."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1 and value >= 1:
        step = 1.0
    return step * math.ceil(value / step), step


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _figure(svg: str, caption: str, cls: str = "chart") -> str:
    return f'<figure class="{cls}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _svg_open(width: int, height: int, title: str, chart_id: str | None) -> str:
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    return (f'<svg{ident} class="svg-chart" viewBox="0 0 {width} {height}" role="img" '
            f'preserveAspectRatio="xMidYMid meet">'
            f'<title>{escape(title)}</title>')


def _day_label(day: date, n: int) -> str:
    return day.isoformat() if n <= 4 else day.strftime("%m-%d")


def area_chart(days: list[date], series: list[tuple[str, list, str]], title: str, unit: str = "count",
               chart_id: str | None = None, height: int = 220) -> str:
    """One line (with a light area under it) per series over days; values None count as 0."""
    width, left, right, top, bottom = WIDTH, 64, 16, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(days)
    if n == 0:
        return _figure(_svg_open(width, 60, title, chart_id) + f'<text x="{width / 2}" y="34" '
                       f'text-anchor="middle" class="muted">no days</text></svg>', title)
    values = [[float(v or 0) for v in vals] for _, vals, _ in series]
    top_value, step = _nice_max(max((max(v) for v in values if v), default=0))

    def x(i: int) -> float:
        return left + plot_w / 2 if n == 1 else left + i * plot_w / (n - 1)

    def y(v: float) -> float:
        return top + plot_h - v / top_value * plot_h

    out = [_svg_open(width, height, title, chart_id)]
    ticks = int(round(top_value / step))
    for t in range(ticks + 1):
        v = t * step
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_f(y(v))}" y2="{_f(y(v))}"/>'
                   f'<text class="axis" x="{left - 6}" y="{_f(y(v) + 4)}" text-anchor="end">{escape(_fmt(v, unit))}</text>')
    every = max(1, math.ceil(n / 8))
    for i, day in enumerate(days):
        if i % every == 0 or i == n - 1:
            anchor = "middle" if n == 1 else "start" if i == 0 else "end" if i == n - 1 else "middle"
            out.append(f'<text class="axis" x="{_f(x(i))}" y="{height - 10}" text-anchor="{anchor}">'
                       f'{escape(_day_label(day, n))}</text>')
    base = y(0)
    for (name, _, color), vals in zip(series, values):
        points = " ".join(f"{_f(x(i))},{_f(y(v))}" for i, v in enumerate(vals))
        if n > 1:
            out.append(f'<polygon fill="{color}" fill-opacity="0.15" stroke="none" '
                       f'points="{_f(x(0))},{_f(base)} {points} {_f(x(n - 1))},{_f(base)}"/>')
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(vals):
            out.append(f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="3.5" fill="{color}"><title>'
                       f'{escape(name)} {days[i].isoformat()}: {escape(_fmt(v, unit))}</title></circle>')
    lx = left + 8
    for name, _, color in series:
        out.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{color}"/>'
                   f'<text class="legend" x="{lx + 14}" y="15">{escape(name)}</text>')
        lx += 24 + 7 * len(name)
    out.append("</svg>")
    return _figure("".join(out), title)


def hbar_chart(rows: list[tuple[str, list[tuple[float, str, str]], str | None]], title: str, unit: str = "count",
               legend: list[tuple[str, str]] | None = None, chart_id: str | None = None) -> str:
    """Horizontal bars, each a stack of (value, colour, segment name); `href` links the label."""
    width, label_w, right, bar_h, gap, top = WIDTH, 190, 90, 18, 6, 26 if legend else 6
    height = top + len(rows) * (bar_h + gap) + 4
    totals = [sum(v or 0 for v, _, _ in segments) for _, segments, _ in rows]
    top_value = max(totals, default=0) or 1
    plot_w = width - label_w - right
    out = [_svg_open(width, max(height, 30), title, chart_id)]
    if legend:
        lx = label_w
        for name, color in legend:
            out.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{color}"/>'
                       f'<text class="legend" x="{lx + 14}" y="15">{escape(name)}</text>')
            lx += 24 + 7 * len(name)
    for i, ((label, segments, href), total) in enumerate(zip(rows, totals)):
        y = top + i * (bar_h + gap)
        short = label if len(label) <= 28 else label[:27] + "…"
        text = (f'<text class="label" x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end">'
                f'<title>{escape(label)}</title>{escape(short)}</text>')
        out.append(f'<a href="{escape(href)}">{text}</a>' if href else text)
        x = float(label_w)
        for value, color, name in segments:
            w = (value or 0) / top_value * plot_w
            if w > 0:
                out.append(f'<rect x="{_f(x)}" y="{y}" width="{_f(max(w, 1))}" height="{bar_h}" fill="{color}">'
                           f'<title>{escape(label)} – {escape(name)}: {escape(_fmt(value, unit))}</title></rect>')
                x += w
        out.append(f'<text class="value" x="{_f(x + 6)}" y="{y + bar_h - 5}">{escape(_fmt(total, unit))}</text>')
    out.append("</svg>")
    return _figure("".join(out), title)


def vbar_chart(bars: list[tuple[str, float, str]], title: str, unit: str = "count",
               chart_id: str | None = None, height: int = 200) -> str:
    """Vertical bars (label, value, colour), value printed above each."""
    width, left, right, top, bottom = WIDTH, 40, 16, 20, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max((v for _, v, _ in bars), default=0) or 1
    slot = plot_w / max(len(bars), 1)
    bar_w = slot * 0.7
    out = [_svg_open(width, height, title, chart_id),
           f'<line class="grid" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>']
    for i, (label, value, color) in enumerate(bars):
        h = (value or 0) / top_value * plot_h
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        out.append(f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(bar_w)}" height="{_f(max(h, 0))}" fill="{color}">'
                   f'<title>{escape(label)}: {escape(_fmt(value, unit))}</title></rect>'
                   f'<text class="value" x="{_f(x + bar_w / 2)}" y="{_f(y - 4)}" text-anchor="middle">'
                   f'{escape(_fmt(value, unit))}</text>'
                   f'<text class="axis" x="{_f(x + bar_w / 2)}" y="{height - 10}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    out.append("</svg>")
    return _figure("".join(out), title)
