"""Inline SVG charts rendered on the server (no JS, no build step): drivers, score history, signal trends.

Pure functions from numbers to SVG text; every piece of text is escaped, so the result may be inserted into
a page as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from serving.schemas import Reason

RISK_UP = "#c0392b"
RISK_DOWN = "#1e8449"


@dataclass(frozen=True)
class Bar:
    """One bar of the drivers chart: a reason's words and its size (> 0 raises the risk)."""

    label: str
    value: float


@dataclass(frozen=True)
class DriverChart:
    """The bars, largest risk first, and their unit: "points" (probability points) or "log-odds"."""

    bars: list[Bar]
    unit: str


def _points(r: Reason) -> float | None:
    """A reason's size in probability points: the declared `Reason.points` (or a `probability_points` extra
    field); None for reasons stored before points were."""
    for v in (r.points, (r.model_extra or {}).get("probability_points")):
        if isinstance(v, int | float) and v == v:
            return float(v)
    return None


def driver_bars(drivers: Sequence[Reason], protective: Sequence[Reason]) -> DriverChart:
    """The chart's bars: in probability points when every reason carries them, else in log-odds."""
    reasons = [*drivers, *protective]
    points = [_points(r) for r in reasons]
    if reasons and all(p is not None for p in points):
        bars = [Bar(r.sentence, float(p)) for r, p in zip(reasons, points, strict=True)]  # type: ignore[arg-type]
        unit = "points"
    else:
        bars, unit = [Bar(r.sentence, r.contribution) for r in reasons], "log-odds"
    return DriverChart(sorted(bars, key=lambda b: -b.value), unit)


def _lines(text: str, n: int = 44) -> list[str]:
    """`text` in at most two lines of about `n` characters (the second ends in … when it still runs over)."""
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > n:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    if len(lines) > 2:
        lines = [lines[0], " ".join(lines[1:])]
    if len(lines[-1]) > n:
        lines[-1] = lines[-1][: n - 1].rstrip() + "…"
    return lines


def _value(v: float, unit: str) -> str:
    return f"{v:+.1f} pts" if unit == "points" else f"{v:+.2f}"


def drivers_svg(bars: Sequence[Bar], unit: str = "log-odds", width: int = 760) -> str:
    """Diverging bars: risk drivers to the right (red), protective factors to the left (green). Labels wrap to
    two lines so they fit beside the bars; the chart scales down with the page (viewBox)."""
    if not bars:
        return '<p class="muted">No reasons above the reporting threshold.</p>'
    row, label_w, pad = 34, 330, 8
    chart_w = width - label_w - 2 * pad
    mid = label_w + pad + chart_w / 2
    scale = (chart_w / 2 - 56) / (max(abs(b.value) for b in bars) or 1.0)
    height = row * len(bars) + 30
    parts = [f'<svg class="chart drivers" role="img" aria-label="Drivers of the churn risk ({unit})" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{mid:.1f}" y1="4" x2="{mid:.1f}" y2="{height - 22}" stroke="#888" stroke-width="1"/>']
    for i, b in enumerate(bars):
        y = 6 + i * row
        w = abs(b.value) * scale
        up = b.value > 0
        x = mid if up else mid - w
        kind = "driver" if up else "protective"
        lines = _lines(b.label)
        suffix = "" if unit == "points" else f" {unit}"
        first = y + (12 if len(lines) > 1 else 19)
        label = "".join(f'<tspan x="{label_w}" y="{first + 13 * k}">{escape(t)}</tspan>' for k, t in enumerate(lines))
        parts.append(
            f'<g class="bar {kind}"><title>{escape(b.label)} ({_value(b.value, unit)}{suffix})</title>'
            f'<text text-anchor="end" font-size="12">{label}</text>'
            f'<rect x="{x:.1f}" y="{y + 6}" width="{max(w, 1):.1f}" height="{row - 14}" '
            f'fill="{RISK_UP if up else RISK_DOWN}"/>'
            f'<text x="{(x + w + 4) if up else (x - 4):.1f}" y="{y + 19}" font-size="11" '
            f'text-anchor="{"start" if up else "end"}" fill="#444">{_value(b.value, unit)}</text></g>'
        )
    parts.append(f'<text x="{mid + 6:.1f}" y="{height - 6}" font-size="11" fill="{RISK_UP}">raises risk →</text>'
                 f'<text x="{mid - 6:.1f}" y="{height - 6}" font-size="11" fill="{RISK_DOWN}" '
                 'text-anchor="end">← lowers risk</text></svg>')
    return "".join(parts)


def drivers_svg_stacked(bars: Sequence[Bar], unit: str = "log-odds", width: int = 360) -> str:
    """The drivers chart for a phone: each reason's words (up to two lines) above its bar, so the words stay at
    reading size in a narrow column."""
    if not bars:
        return ""
    mid = width / 2
    scale = (width / 2 - 60) / (max(abs(b.value) for b in bars) or 1.0)
    rows, y = [], 4
    for b in bars:
        w, up, lines = abs(b.value) * scale, b.value > 0, _lines(b.label, 48)
        x = mid if up else mid - w
        colour = RISK_UP if up else RISK_DOWN
        words = "".join(f'<tspan x="4" y="{y + 12 + 15 * k}">{escape(t)}</tspan>' for k, t in enumerate(lines))
        bar_y = y + 4 + 15 * len(lines)
        rows.append(
            f'<g class="bar {"driver" if up else "protective"}"><text font-size="13">{words}</text>'
            f'<rect x="{x:.1f}" y="{bar_y}" width="{max(w, 1):.1f}" height="16" fill="{colour}"/>'
            f'<text x="{(x + w + 4) if up else (x - 4):.1f}" y="{bar_y + 13}" font-size="12" '
            f'text-anchor="{"start" if up else "end"}" fill="#444">{_value(b.value, unit)}</text></g>')
        y = bar_y + 26
    height = y + 18
    return (f'<svg class="chart drivers stacked" role="img" aria-label="Drivers of the churn risk ({unit})" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<line x1="{mid:.1f}" y1="18" x2="{mid:.1f}" y2="{height - 20}" stroke="#888" stroke-width="1"/>'
            + "".join(rows)
            + f'<text x="{mid + 6:.1f}" y="{height - 6}" font-size="12" fill="{RISK_UP}">raises risk →</text>'
            f'<text x="{mid - 6:.1f}" y="{height - 6}" font-size="12" fill="{RISK_DOWN}" '
            'text-anchor="end">← lowers risk</text></svg>')


def history_svg(points: Sequence[tuple[dt.date, float]], bands: tuple[float, float] = (0.10, 0.25),
                width: int = 760, height: int = 180) -> str:
    """Churn probability over the account's scorings, with the medium/high band thresholds dashed."""
    if not points:
        return '<p class="muted">No score history.</p>'
    left, right, top, bottom = 44, 16, 10, 26
    w, h = width - left - right, height - top - bottom
    ymax = min(1.0, max(max(p for _, p in points), bands[1]) * 1.2)

    def px(i: int) -> float:
        return left + (w * i / (len(points) - 1) if len(points) > 1 else w / 2)

    def py(p: float) -> float:
        return top + h * (1 - p / ymax)

    parts = [f'<svg class="chart history" role="img" aria-label="Score history" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#888"/>']
    for b, colour in zip(bands, ("#d4ac0d", RISK_UP), strict=True):
        parts.append(f'<line x1="{left}" y1="{py(b):.1f}" x2="{left + w}" y2="{py(b):.1f}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"/><text x="{left - 4}" y="{py(b) + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{b:.0%}</text>')
    coords = " ".join(f"{px(i):.1f},{py(p):.1f}" for i, (_, p) in enumerate(points))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="#2c3e50" stroke-width="2"/>')
    for i, (d, p) in enumerate(points):
        parts.append(f'<circle cx="{px(i):.1f}" cy="{py(p):.1f}" r="3.5" fill="#2c3e50"><title>{d}: {p:.1%}'
                     '</title></circle>')
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="11">{first}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{left + w}" y="{height - 6}" font-size="11" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sparkline_svg(values: Sequence[float], width: int = 160, height: int = 36, neutral: bool = False) -> str:
    """A small trend line of one signal: a theme's contribution to risk across scorings (red when it raises
    risk), or with `neutral` a raw signal such as active users (one colour, no judgement). NaN values are
    gaps' ends: they are left out of the line."""
    values = [v for v in values if v == v]  # drop NaN (not recorded at that scoring)
    if not values:
        return ""
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    span = (hi - lo) or 1.0

    def py(v: float) -> float:
        return 3 + (height - 6) * (1 - (v - lo) / span)

    step = (width - 6) / (len(values) - 1) if len(values) > 1 else 0
    coords = " ".join(f"{3 + i * step:.1f},{py(v):.1f}" for i, v in enumerate(values))
    colour = "#2c3e50" if neutral else RISK_UP if values[-1] > 0 else RISK_DOWN
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><line x1="0" y1="{py(0):.1f}" x2="{width}" y2="{py(0):.1f}" '
            f'stroke="#bbb" stroke-dasharray="2 2"/><polyline points="{coords}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/></svg>')
