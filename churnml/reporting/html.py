"""The KPI report as HTML: formatted tables, tiles and SVG figures through the Jinja2 template `kpi.html.j2`.

Every number goes through `churnml.reporting.tiles.fmt`; every figure is an `Image` carrying the SVG's own
width and height, so the browser draws it at its size or smaller (never stretched).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader

from churnml.reporting import figures as rf
from churnml.reporting.forecasts import forecast_accuracy, groups_of
from churnml.reporting.tiles import fmt, kpi_tiles

if TYPE_CHECKING:
    from churnml.reporting.report import KpiReport

#: The report's Jinja template (package data, beside this module).
TEMPLATE = "kpi.html.j2"


def _table(df: pd.DataFrame | None, columns: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A table for the template: [(column, header, kind)] kept where the column exists."""
    if df is None or df.empty:
        return {"headers": [], "rows": []}
    cols = [c for c in columns if c[0] in df.columns]
    return {"headers": [h for _, h, _ in cols],
            "rows": [[fmt(r[c], k) if k not in ("str", "month") else
                      (f"{pd.Timestamp(r[c]):%b %Y}" if k == "month" else str(r[c])) for c, _, k in cols]
                     for r in df.to_dict("records")]}


_OUTCOMES = [("customers_start", "customers (month starts)", "int"), ("churned", "churned", "int"),
             ("reactivated", "reactivated", "int"), ("logo_churn_rate", "logo churn / mo", "pct"),
             ("grr", "GRR / mo", "pct"), ("nrr", "NRR / mo", "pct"), ("arpa", "ARPA", "money"),
             ("ltv", "LTV", "money")]
_EXPERIENCE = [("nps", "NPS", "num"), ("nps_responses", "NPS answers", "int"), ("csat", "CSAT", "pct"),
               ("ces", "CES", "ratio"), ("response_rate", "response rate", "pct")]
_COST = [("cac", "CAC", "money"), ("ltv_cac", "LTV:CAC", "times")]
_MONTHLY = [("month", "month", "month"), ("customers_start", "customers", "int"), ("new", "new", "int"),
            ("reactivated", "reactivated", "int"), ("churned", "churned", "int"),
            ("logo_churn_rate", "logo churn", "pct"), ("retention_rate", "retention", "pct"),
            ("mrr_start", "MRR (start)", "money"), ("expansion_mrr", "expansion", "money"),
            ("contraction_mrr", "contraction", "money"), ("churned_mrr", "churned MRR", "money"),
            ("grr", "GRR", "pct"), ("nrr", "NRR", "pct"), ("ltv", "LTV", "money")]
_EXP_MONTHLY = [("month", "month", "month"), ("nps", "NPS", "num"), ("nps_responses", "answers", "int"),
                ("csat", "CSAT", "pct"), ("csat_responses", "answers", "int"), ("ces", "survey CES", "ratio"),
                ("ticket_ces", "ticket CES", "ratio"), ("response_rate", "response rate", "pct")]
_AT_RISK = [("accounts", "accounts", "int"), ("high_risk", "high risk", "int"),
            ("expected_churn", "expected churners", "num"), ("mrr", "MRR", "money"),
            ("mrr_at_risk", "MRR at risk", "money"), ("share_at_risk", "share at risk", "pct")]
_BANDS = [("band", "band", "str"), ("accounts", "scored accounts", "int"), ("predicted", "predicted", "pct"),
          ("realised", "realised churn", "pct"), ("realised_lo", "realised: 95% from", "pct"),
          ("realised_hi", "to", "pct"), ("churned", "churned", "int"),
          ("churned_mrr", "churned MRR", "money")]
_ACCURACY = [("metric", "metric", "str"), ("scope", "scope", "str"), ("dates", "dates", "int"),
             ("points", "points", "int"), ("coverage80", "inside 80% range", "pct"),
             ("coverage95", "inside 95% range", "pct"), ("mae_forecast", "error: forecast", "pct"),
             ("mae_naive_last", "error: last period", "pct"),
             ("mae_naive_trailing4", "error: trailing 4 periods", "pct")]


def _forecast_now(report: KpiReport) -> dict[str, Any]:
    if report.forecast_now is None:
        return {"forecast_now": None}
    made, horizon, groups = report.forecast_now
    levels = sorted({int(c.removeprefix("grr_lo")) for c in groups.columns if c.startswith("grr_lo")})
    rows = []
    for r in groups.to_dict(orient="records"):
        ranges = {m: "; ".join(f"{lv}%: {fmt(r[f'{m}_lo{lv}'], 'pct')} – {fmt(r[f'{m}_hi{lv}'], 'pct')}"
                               for lv in levels) for m in ("grr", "nrr")}
        rows.append([str(r["group"]), fmt(r["accounts"], "int"), fmt(r["arr"], "money"),
                     fmt(r["renewing_arr"], "money"), fmt(r["arr_at_risk"], "money"), fmt(r["grr"], "pct"),
                     ranges["grr"], fmt(r["nrr"], "pct"), ranges["nrr"]])
    head = ["group", "accounts", "ARR", "renewing ARR", "ARR at risk", "GRR", "GRR ranges", "NRR", "NRR ranges"]
    return {"forecast_now": {"made": made, "horizon": horizon, "table": {"headers": head, "rows": rows}}}


def _forecast_context(report: KpiReport) -> dict[str, Any]:
    h = report.forecast_history
    if h is None or h.empty:
        return {"forecast_fig": None, "forecast_accuracy": _table(None, _ACCURACY), **_forecast_now(report)}
    level = 80 if "lo80" in h.columns else int(next(c for c in h.columns if c.startswith("lo"))[2:])
    accuracy = forecast_accuracy(h, report.forecast_levels)
    if len(accuracy):
        accuracy = accuracy.assign(metric=accuracy["metric"].str.upper())
    return {"forecast_fig": rf.to_image(rf.forecast_figure(h, groups_of(h), level),
                                        "forecast GRR and NRR against realised, by segment"),
            "forecast_level": level, "forecast_accuracy": _table(accuracy, _ACCURACY), **_forecast_now(report),
            "forecast_dates": f"{pd.Timestamp(h['as_of'].min()):%d %b %Y} – {pd.Timestamp(h['as_of'].max()):%d %b %Y}"}


def render_html(report: KpiReport) -> str:
    """The report as one HTML document with every figure embedded (no network, no other files)."""
    seg_cols = [("segment", "segment", "str"), *_OUTCOMES, *_EXPERIENCE, *(_COST if report.has_costs else [])]
    csm_cols = [("csm_id", "CSM", "str"), *_OUTCOMES[:6], *_EXPERIENCE, ("enps", "own eNPS", "num")]
    segs = report.segments
    ctx: dict[str, Any] = {
        "as_of": report.as_of,
        "period": f"{report.months[0]:%b %Y} – {report.months[-1]:%b %Y} ({len(report.months)} months)",
        "notes": report.notes,
        "tiles": kpi_tiles(report.period, report.prior, gross_margin=report.gross_margin,
                           has_costs=report.has_costs),
        "outcome_figs": [rf.to_image(rf.logos_figure(report.revenue), "customers and logo churn"),
                         rf.to_image(rf.retention_figure(report.revenue), "GRR, NRR and logo retention"),
                         rf.to_image(rf.movements_figure(report.revenue), "MRR movements")],
        "monthly": _table(report.revenue, _MONTHLY),
        "experience_fig": rf.to_image(rf.experience_figure(report.experience, report.enps), "experience by month"),
        "experience": _table(report.experience.merge(report.enps, on="month", how="left"),
                             [*_EXP_MONTHLY, ("enps", "team eNPS", "num")]),
        "segment_fig": rf.to_image(rf.experience_vs_outcomes_figure(segs), "NPS against NRR by segment")
        if len(segs) and "nps" in segs and segs["nps"].notna().any() else None,
        "segments": _table(segs, seg_cols),
        "csms": _table(report.csms, csm_cols),
        "deciles_fig": rf.to_image(rf.deciles_figure(report.deciles, report.key_features), "churn by decile")
        if report.key_features else None,
        "cohort_fig": rf.to_image(rf.cohort_retention_figure(report.retention), "retention by signup cohort")
        if len(report.retention) else None,
        "bands_fig": rf.to_image(rf.bands_figure(report.bands), "risk bands against realised churn")
        if report.bands is not None else None,
        "bands": _table(report.bands, _BANDS),
        "discrimination": report.discrimination,
        "scorings": ", ".join(str(d) for d in report.scorings),
        "at_risk_as_of": report.at_risk_as_of,
        "at_risk_figs": [rf.to_image(rf.at_risk_figure(t, by), f"MRR at risk by {by}")
                         for t, by in ((report.at_risk_segment, "segment"), (report.at_risk_csm, "csm_id"))
                         if t is not None and len(t)],
        "at_risk_segment": _table(report.at_risk_segment, [("segment", "segment", "str"), *_AT_RISK]),
        "at_risk_csm": _table(report.at_risk_csm, [("csm_id", "CSM", "str"), *_AT_RISK]),
        **_forecast_context(report),
    }
    env = Environment(loader=PackageLoader("churnml.reporting", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(**ctx)


__all__ = ["TEMPLATE", "render_html"]
