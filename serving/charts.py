"""Inline SVG charts rendered on the server (no JS, no build step): drivers, score history, signal trends.

Pure functions from numbers to SVG text; every piece of text is escaped, so the result may be inserted into
a page as is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from serving.schemas import Reason

RISK_UP = "#c0392b"
RISK_DOWN = "#1e8449"


def _short(text: str, n: int = 58) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def drivers_svg(drivers: Sequence[Reason], protective: Sequence[Reason], width: int = 760) -> str:
    """Diverging bars: risk drivers to the right (red), protective factors to the left (green), log-odds."""
    reasons = sorted([*drivers, *protective], key=lambda r: -r.contribution)
    if not reasons:
        return '<p class="muted">No reasons above the reporting threshold.</p>'
    row, label_w, pad = 26, 360, 8
    chart_w = width - label_w - 2 * pad
    mid = label_w + pad + chart_w / 2
    scale = (chart_w / 2 - 40) / max(abs(r.contribution) for r in reasons)
    height = row * len(reasons) + 30
    parts = [f'<svg class="chart drivers" role="img" aria-label="Drivers of the churn risk" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{mid:.1f}" y1="4" x2="{mid:.1f}" y2="{height - 22}" stroke="#888" stroke-width="1"/>']
    for i, r in enumerate(reasons):
        y = 6 + i * row
        w = abs(r.contribution) * scale
        up = r.contribution > 0
        x = mid if up else mid - w
        colour = RISK_UP if up else RISK_DOWN
        kind = "driver" if up else "protective"
        parts.append(
            f'<g class="bar {kind}"><title>{escape(r.sentence)} ({r.contribution:+.2f} log-odds)</title>'
            f'<text x="{label_w}" y="{y + 15}" text-anchor="end" font-size="12">{escape(_short(r.sentence))}</text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{(x + w + 4) if up else (x - 4):.1f}" y="{y + 15}" font-size="11" '
            f'text-anchor="{"start" if up else "end"}" fill="#444">{r.contribution:+.2f}</text></g>'
        )
    parts.append(f'<text x="{mid + 6:.1f}" y="{height - 6}" font-size="11" fill="{RISK_UP}">raises risk →</text>'
                 f'<text x="{mid - 6:.1f}" y="{height - 6}" font-size="11" fill="{RISK_DOWN}" '
                 'text-anchor="end">← lowers risk</text></svg>')
    return "".join(parts)


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
