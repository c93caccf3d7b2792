"""The portfolio page (`/portfolio`): the latest GRR / NRR forecast with its ranges, by group and renewal month,
and the churn model's health estimated before labels — what a CS leader looks at beside the CSM's account list.

Same session rules as the other pages (`serving.routers.web`); reads the forecast `churnml.forecast.store` saved.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from churnml.forecast.store import read_forecast
from serving.deps import State
from serving.routers.forecast import NO_FORECAST, ForecastGroup, forecast_response
from serving.routers.web import Viewer, _common, _page

router = APIRouter(include_in_schema=False)


def range_svg(groups: list[ForecastGroup], metric: str, width: int = 520) -> str:
    """Per group one row: the widest interval as a thin line, the narrowest as a thick bar, the forecast a dot."""
    rows = [g for g in groups if getattr(g, metric) is not None]
    if not rows:
        return ""
    lows = [getattr(iv, f"{metric}_lo") for g in rows for iv in g.intervals]
    highs = [getattr(iv, f"{metric}_hi") for g in rows for iv in g.intervals]
    lo = min(v for v in lows if v is not None)
    hi = max(v for v in highs if v is not None)
    pad = max((hi - lo) * 0.1, 0.005)
    lo, hi = lo - pad, hi + pad
    label_w, row, right = 130, 24, 60
    span = width - label_w - right

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * span

    height = row * len(rows) + 24
    title = f"{metric.upper()} forecast by group, with its ranges"
    out = [f'<svg class="chart range" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">']
    for i, g in enumerate(rows):
        y = 12 + i * row
        ivs = sorted(g.intervals, key=lambda iv: -iv.level)
        out.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end" font-size="12">{escape(g.group)}</text>')
        for k, iv in enumerate(ivs):
            a, b = getattr(iv, f"{metric}_lo"), getattr(iv, f"{metric}_hi")
            if a is None or b is None:
                continue
            thick = 2 if k == 0 else 8
            out.append(f'<line x1="{x(a):.1f}" y1="{y}" x2="{x(b):.1f}" y2="{y}" stroke="#4C72B0" '
                       f'stroke-opacity="{0.45 if k == 0 else 0.8}" stroke-width="{thick}"/>')
        mean = getattr(g, metric)
        out.append(f'<circle cx="{x(mean):.1f}" cy="{y}" r="4" fill="#C44E52"/>')
        out.append(f'<text x="{width - right + 6}" y="{y + 4}" font-size="12">{100 * mean:.1f}%</text>')
    for v in (lo + pad, hi - pad):
        out.append(f'<text x="{x(v):.1f}" y="{height - 4}" text-anchor="middle" font-size="10" fill="#666">'
                   f'{100 * v:.1f}%</text>')
    out.append("</svg>")
    return "".join(out)


def _context(doc: dict[str, Any]) -> dict[str, Any]:
    fc = forecast_response(doc)
    return {"fc": fc, "grr_chart": range_svg(fc.groups, "grr"), "nrr_chart": range_svg(fc.groups, "nrr"),
            "levels": [round(lv * 100) for lv in fc.levels]}


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(request: Request, state: State, who: Viewer) -> Response:
    doc = read_forecast(state.settings.work_dir)
    ctx = {**_common(state, who), "missing": NO_FORECAST if doc is None else None}
    if doc is not None:
        ctx.update(_context(doc))
    return _page(request, "portfolio.html", ctx, status_code=200 if doc is not None else 404)
