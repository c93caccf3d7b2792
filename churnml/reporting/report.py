"""The CS KPI report: one self-contained HTML file (plots embedded as base64 PNG), readable offline.

`compute_report` is pure (pandas tables in, a `KpiReport` of tables out); `render_html` turns it into HTML with the
Jinja2 template `churnml/reporting/templates/kpi.html.j2`; `build_report` is the job at the edge: it opens and
validates the data, keeps only what was known before the as-of date, computes the features for the decile analysis,
reads past scorings from the score store and their realised outcomes, and returns the report.

What is in it: monthly logo churn and retention, GRR/NRR and MRR movements; NPS, CSAT, CES, response rates
and CSM team eNPS; experience next to outcomes per segment (either alone misleads); LTV (and LTV:CAC when
acquisition costs are given); by segment and by CSM; cohort analysis (churn by decile of key features,
retention by signup cohort); model health (risk bands against realised churn for scorings whose horizon has
passed) and revenue at risk by segment and CSM from the latest scoring.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, PackageLoader

from churnml.features.units import format_value
from churnml.reporting import cohorts, kpi
from churnml.reporting import costs as costs_kpi
from churnml.reporting import figures as rf

if TYPE_CHECKING:
    from churnml.config import Settings


@dataclass
class KpiReport:
    """Everything the report shows, as tables (also handy in a notebook)."""

    as_of: dt.date
    months: list[dt.date]
    overall: pd.DataFrame  # one row: the period pooled
    revenue: pd.DataFrame  # monthly, whole base
    experience: pd.DataFrame  # monthly, whole base, with response rates
    enps: pd.DataFrame  # monthly team eNPS
    segments: pd.DataFrame  # period pooled per segment: outcomes beside experience (+ LTV:CAC)
    csms: pd.DataFrame  # period pooled per CSM (+ the CSM's own eNPS answers)
    revenue_by_segment: pd.DataFrame
    retention: pd.DataFrame
    deciles: pd.DataFrame
    key_features: list[str]
    bands: pd.DataFrame | None = None
    scorings: list[dt.date] = field(default_factory=list)
    at_risk_as_of: dt.date | None = None
    at_risk_segment: pd.DataFrame | None = None
    at_risk_csm: pd.DataFrame | None = None
    has_costs: bool = False
    notes: list[str] = field(default_factory=list)


def _before(df: pd.DataFrame | None, column: str, as_of: dt.date) -> pd.DataFrame | None:
    if df is None:
        return None
    return df[pd.to_datetime(df[column]) < pd.Timestamp(as_of)].reset_index(drop=True)


def compute_report(
    tables: dict[str, pd.DataFrame],
    as_of: dt.date,
    *,
    months: int = 12,
    grace_days: int = 0,
    gross_margin: float = 1.0,
    costs: pd.DataFrame | None = None,
    training_frame: pd.DataFrame | None = None,
    feature_candidates: list[str] | None = None,
    scores: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
) -> KpiReport:
    """All the report's tables from contract tables as pandas frames, using only rows before `as_of`.

    Args:
        tables: accounts, subscriptions (required); surveys, tickets, csm_enps (optional).
        as_of: report date; the `months` complete calendar months before it are reported.
        grace_days: a lapse followed by a return within this many days is no churn (as in the labels).
        gross_margin: for LTV.
        costs: optional acquisition costs (see `churnml.reporting.costs.cac`).
        training_frame: labelled (account, as-of) feature rows for the decile analysis.
        feature_candidates: features considered for the decile analysis (default: numeric columns).
        scores: score-store rows (all as-of dates); model health and revenue at risk come from them.
        labels: realised outcomes of the scored rows (`churnml.reporting.cohorts.realised_labels`).

    Raises:
        ValueError: no subscriptions, or no complete month before `as_of`.
    """
    accounts = tables["accounts"].assign(account_id=lambda d: d["account_id"].astype(str))
    subs = _before(tables.get("subscriptions"), "start_date", as_of)
    if subs is None or subs.empty:
        raise ValueError("the KPI report needs subscriptions (with MRR) before the as-of date")
    surveys = _before(tables.get("surveys"), "ts", as_of)
    tickets = _before(tables.get("tickets"), "opened_at", as_of)
    enps_t = _before(tables.get("csm_enps"), "ts", as_of)
    month_list = kpi.complete_months(as_of, months)
    first_sub = pd.to_datetime(subs["start_date"]).min().date()
    month_list = [m for m in month_list if m >= dt.date(first_sub.year, first_sub.month, 1)]
    if not month_list:
        raise ValueError(f"no complete month of subscriptions before {as_of}")
    notes: list[str] = []
    if surveys is None or surveys.empty:
        notes.append("No survey answers: NPS, CSAT, CES and response rates are not available.")

    revenue = kpi.revenue_monthly(subs, month_list, grace_days=grace_days, gross_margin=gross_margin)
    exp = kpi.response_rates(kpi.experience_monthly(surveys, month_list, tickets=tickets), revenue)
    overall = kpi.summarise_period(revenue, exp, surveys, gross_margin=gross_margin)
    enps = kpi.enps_monthly(enps_t, month_list)

    splits, by_segment = _splits(subs, accounts, surveys, month_list, grace_days, gross_margin, costs, notes)
    if costs is not None:
        overall = costs_kpi.ltv_cac(overall, costs_kpi.cac(costs, revenue, accounts=accounts))
    csms = _with_own_enps(splits.get("csm_id", pd.DataFrame()), enps_t, month_list)

    retention = cohorts.retention_curves(subs, as_of, grace_days=grace_days, max_months=12,
                                         since=month_list[0] - dt.timedelta(days=366))
    deciles, keys = _deciles(training_frame, feature_candidates, notes)

    report = KpiReport(
        as_of=as_of, months=month_list, overall=overall, revenue=revenue, experience=exp, enps=enps,
        segments=splits.get("segment", pd.DataFrame()), csms=csms, revenue_by_segment=by_segment,
        retention=retention, deciles=deciles, key_features=keys, has_costs=costs is not None, notes=notes,
    )
    _model_health(report, scores, labels)
    return report


def _splits(subs: pd.DataFrame, accounts: pd.DataFrame, surveys: pd.DataFrame | None, month_list: list[dt.date],
            grace_days: int, gross_margin: float, costs: pd.DataFrame | None,
            notes: list[str]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The period summary by segment and by CSM (with LTV:CAC where costs allow), and revenue by segment."""
    splits: dict[str, pd.DataFrame] = {}
    by_segment = pd.DataFrame()
    for by in ("segment", "csm_id"):
        if by not in accounts.columns:
            continue
        rev = kpi.revenue_monthly(subs, month_list, accounts=accounts, by=by, grace_days=grace_days,
                                  gross_margin=gross_margin)
        e = kpi.experience_monthly(surveys, month_list, accounts=accounts, by=by)
        summary = kpi.summarise_period(rev, e, surveys, accounts=accounts, by=by, gross_margin=gross_margin)
        if costs is not None:
            try:
                summary = costs_kpi.ltv_cac(summary, costs_kpi.cac(costs, rev, accounts=accounts, by=by), by=by)
            except ValueError as exc:
                notes.append(f"LTV:CAC by {by}: {exc}")
        splits[by] = summary
        if by == "segment":
            by_segment = rev
    return splits, by_segment


def _with_own_enps(csms: pd.DataFrame, enps_t: pd.DataFrame | None, month_list: list[dt.date]) -> pd.DataFrame:
    """Each CSM's own eNPS over the reported months beside their accounts' figures."""
    if not len(csms) or enps_t is None or not len(enps_t):
        return csms
    in_months = enps_t[kpi.month_of(enps_t["ts"]).isin(set(map(pd.Timestamp, month_list)))]
    mine = in_months.groupby(in_months["csm_id"].astype(str))["score"].agg([kpi.nps, "size"])
    mine.columns = ["enps", "enps_responses"]
    return csms.merge(mine.rename_axis("csm_id").reset_index(), on="csm_id", how="left")


def _deciles(training_frame: pd.DataFrame | None, candidates: list[str] | None,
             notes: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Churn rate by decile of the key features, from the labelled feature rows (none: a note says so)."""
    if training_frame is None or not training_frame["churned"].notna().any():
        notes.append("No labelled feature rows before the as-of date: no churn-by-decile analysis.")
        return pd.DataFrame(), []
    keys_and_label = ("account_id", "as_of", "churned", "churn_date")
    cands = candidates or [c for c in training_frame.columns if c not in keys_and_label]
    keys = cohorts.key_features(training_frame, cands, top=6)
    deciles = pd.concat([cohorts.churn_by_decile(training_frame, f) for f in keys], ignore_index=True) \
        if keys else pd.DataFrame()
    return deciles, keys


def _model_health(report: KpiReport, scores: pd.DataFrame | None, labels: pd.DataFrame | None) -> None:
    if scores is None or scores.empty:
        report.notes.append("No stored scorings: run `churnml score` to see model health and revenue at risk.")
        return
    s = scores[pd.to_datetime(scores["as_of"]) <= pd.Timestamp(report.as_of)]
    if s.empty:
        report.notes.append(f"No scoring on or before {report.as_of}.")
        return
    latest = pd.to_datetime(s["as_of"]).max()
    current = s[pd.to_datetime(s["as_of"]) == latest]
    report.at_risk_as_of = latest.date()
    report.at_risk_segment = cohorts.revenue_at_risk(current, "segment")
    report.at_risk_csm = cohorts.revenue_at_risk(current, "csm_id")
    if labels is not None and len(labels):
        bands = cohorts.band_outcomes(s, labels)
        if len(bands):
            report.bands = bands
            known = labels[labels["churned"].notna()]
            report.scorings = sorted({pd.Timestamp(d).date() for d in known["as_of"]})
    if report.bands is None:
        report.notes.append("No past scoring's horizon has passed yet: risk bands cannot be checked against "
                            "realised churn.")


# --------------------------------------------------------------------------- HTML


#: Report cell kinds as a catalog unit and a fixed number of decimals.
_UNITS: dict[str, tuple[str, int]] = {"pct": ("%", 1), "money": ("USD", 0), "int": ("", 0), "num": ("", 1),
                                      "ratio": ("", 2)}


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if kind in _UNITS:  # the one unit format (churnml.features.units), at the report's fixed precision
        unit, decimals = _UNITS[kind]
        return format_value(float(value), unit, decimals=decimals)
    if kind == "month":
        return f"{pd.Timestamp(value):%b %Y}"
    return str(value)


def _table(df: pd.DataFrame | None, columns: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A table for the template: [(column, header, kind)] kept where the column exists."""
    if df is None or df.empty:
        return {"headers": [], "rows": []}
    cols = [c for c in columns if c[0] in df.columns]
    return {"headers": [h for _, h, _ in cols],
            "rows": [[_fmt(r[c], k) for c, _, k in cols] for r in df.to_dict("records")]}


_OUTCOMES = [("customers_start", "customers (month starts)", "int"), ("churned", "churned", "int"),
             ("reactivated", "reactivated", "int"), ("logo_churn_rate", "logo churn / mo", "pct"),
             ("grr", "GRR / mo", "pct"), ("nrr", "NRR / mo", "pct"), ("arpa", "ARPA", "money"),
             ("ltv", "LTV", "money")]
_EXPERIENCE = [("nps", "NPS", "num"), ("nps_responses", "NPS answers", "int"), ("csat", "CSAT", "pct"),
               ("ces", "CES", "ratio"), ("response_rate", "response rate", "pct")]
_COST = [("cac", "CAC", "money"), ("ltv_cac", "LTV:CAC", "ratio")]
_MONTHLY = [("month", "month", "month"), ("customers_start", "customers", "int"), ("new", "new", "int"),
            ("reactivated", "reactivated", "int"), ("churned", "churned", "int"),
            ("logo_churn_rate", "logo churn", "pct"), ("retention_rate", "retention", "pct"),
            ("mrr_start", "MRR (start)", "money"), ("expansion_mrr", "expansion", "money"),
            ("contraction_mrr", "contraction", "money"), ("churned_mrr", "churned MRR", "money"),
            ("grr", "GRR", "pct"), ("nrr", "NRR", "pct"), ("ltv", "LTV", "money")]
_EXP_MONTHLY = [("month", "month", "month"), ("nps", "NPS", "num"), ("nps_responses", "answers", "int"),
                ("csat", "CSAT", "pct"), ("csat_responses", "answers", "int"), ("ces", "CES", "ratio"),
                ("ticket_ces", "ticket CES", "ratio"), ("response_rate", "response rate", "pct")]
_AT_RISK = [("accounts", "accounts", "int"), ("high_risk", "high risk", "int"),
            ("expected_churn", "expected churners", "num"), ("mrr", "MRR", "money"),
            ("mrr_at_risk", "MRR at risk", "money"), ("share_at_risk", "share at risk", "pct")]
_BANDS = [("band", "band", "str"), ("accounts", "scored accounts", "int"), ("predicted", "predicted", "pct"),
          ("realised", "realised churn", "pct"), ("churned", "churned", "int"),
          ("churned_mrr", "churned MRR", "money")]

#: The report's Jinja template (package data, beside this module).
TEMPLATE = "kpi.html.j2"

def _img(fig: Any, alt: str) -> dict[str, str]:
    return {"alt": alt, "src": rf.to_data_uri(fig)}


def render_html(report: KpiReport) -> str:
    """The report as one HTML document with every plot embedded (no network, no other files)."""
    o = report.overall.iloc[0]
    tiles = [("logo churn / month", _fmt(o["logo_churn_rate"], "pct")), ("GRR / month", _fmt(o["grr"], "pct")),
             ("NRR / month", _fmt(o["nrr"], "pct")), ("ARPA", _fmt(o["arpa"], "money")),
             ("LTV", _fmt(o["ltv"], "money")), ("NPS", _fmt(o.get("nps"), "num")),
             ("CSAT", _fmt(o.get("csat"), "pct")), ("CES", _fmt(o.get("ces"), "ratio"))]
    if report.has_costs and "ltv_cac" in o:
        tiles.append(("LTV:CAC", _fmt(o["ltv_cac"], "ratio")))
    seg_cols = [("segment", "segment", "str"), *_OUTCOMES, *_EXPERIENCE, *(_COST if report.has_costs else [])]
    csm_cols = [("csm_id", "CSM", "str"), *_OUTCOMES[:6], *_EXPERIENCE, ("enps", "own eNPS", "num")]
    segs = report.segments
    ctx: dict[str, Any] = {
        "as_of": report.as_of,
        "period": f"{report.months[0]:%b %Y} – {report.months[-1]:%b %Y} ({len(report.months)} months)",
        "notes": report.notes,
        "tiles": tiles,
        "outcome_figs": [_img(rf.logos_figure(report.revenue), "customers and logo churn"),
                         _img(rf.retention_figure(report.revenue), "GRR, NRR and logo retention"),
                         _img(rf.movements_figure(report.revenue), "MRR movements")],
        "monthly": _table(report.revenue, _MONTHLY),
        "experience_fig": rf.to_data_uri(rf.experience_figure(report.experience, report.enps)),
        "experience": _table(report.experience.merge(report.enps, on="month", how="left"),
                             [*_EXP_MONTHLY, ("enps", "team eNPS", "num")]),
        "segment_fig": rf.to_data_uri(rf.experience_vs_outcomes_figure(segs))
        if len(segs) and "nps" in segs and segs["nps"].notna().any() else None,
        "segments": _table(segs, seg_cols),
        "csms": _table(report.csms, csm_cols),
        "deciles_fig": rf.to_data_uri(rf.deciles_figure(report.deciles, report.key_features))
        if report.key_features else None,
        "cohort_fig": rf.to_data_uri(rf.cohort_retention_figure(report.retention)) if len(report.retention) else None,
        "bands_fig": rf.to_data_uri(rf.bands_figure(report.bands)) if report.bands is not None else None,
        "bands": _table(report.bands, _BANDS),
        "scorings": ", ".join(str(d) for d in report.scorings),
        "at_risk_as_of": report.at_risk_as_of,
        "at_risk_figs": [_img(rf.at_risk_figure(t, by), f"MRR at risk by {by}")
                         for t, by in ((report.at_risk_segment, "segment"), (report.at_risk_csm, "csm_id"))
                         if t is not None and len(t)],
        "at_risk_segment": _table(report.at_risk_segment, [("segment", "segment", "str"), *_AT_RISK]),
        "at_risk_csm": _table(report.at_risk_csm, [("csm_id", "CSM", "str"), *_AT_RISK]),
    }
    env = Environment(loader=PackageLoader("churnml.reporting", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(**ctx)


# --------------------------------------------------------------------------- the job (I/O at the edge)


def read_costs(path: Path) -> pd.DataFrame:
    """An acquisition-cost table from CSV or Parquet (account_id, cost — or month[, segment], cost)."""
    if not path.exists():
        raise FileNotFoundError(f"acquisition-cost file not found: {path}")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


COSTS_TABLE = "acquisition_costs"


def find_costs(source: Path) -> Path | None:
    """The optional `acquisition_costs` table (.parquet or .csv) beside the contract tables in a data folder."""
    if not source.is_dir():
        return None
    found = [source / f"{COSTS_TABLE}{ext}" for ext in (".parquet", ".csv")]
    return next((p for p in found if p.exists()), None)


def decile_dates(first: dt.date, as_of: dt.date, horizon_days: int, grace_days: int, every_days: int = 28,
                 count: int = 8) -> list[dt.date]:
    """Up to `count` as-of dates, `every_days` apart, whose outcome is known by `as_of` (latest first kept)."""
    last = as_of - dt.timedelta(days=horizon_days + grace_days)
    out = []
    d = last
    while d >= first and len(out) < count:
        out.append(d)
        d -= dt.timedelta(days=every_days)
    return sorted(out)


def build_report(
    settings: Settings,
    as_of: dt.date | None = None,
    *,
    data: Path | None = None,
    costs: Path | None = None,
    months: int = 12,
    gross_margin: float = 1.0,
) -> KpiReport:
    """Open and validate the data, read past scorings, and compute the report for `as_of`.

    `as_of` defaults to the end of the data (`churnml.data.dates.default_as_of`). Acquisition costs come from
    `costs`, else from an `acquisition_costs` table in the data folder, if any.
    """
    from churnml.data.dates import default_as_of
    from churnml.data.load import load_data
    from churnml.features import FEATURES
    from churnml.scoring.store import ScoreStore
    from churnml.training.frames import build_training_frame

    loaded = load_data(settings, data)
    t = loaded.tables
    as_of = as_of or default_as_of(t)
    costs = costs if costs is not None else find_costs(Path(data) if data is not None else settings.data.dir)
    frames = {name: t[name].to_pandas() for name in ("accounts", "subscriptions", "surveys", "tickets", "csm_enps")
              if name in t}
    cfg = settings.labels
    training = None
    if "events" in t:
        first = pd.Timestamp(t.con.execute(t["events"].ts.min())).date() + dt.timedelta(days=90)
        dates = decile_dates(first, as_of, cfg.horizon_days, cfg.grace_days)
        if dates:
            training, _ = build_training_frame(t, dates, cfg, until=as_of)
    scores = ScoreStore.from_work_dir(settings.work_dir).read()
    labels = None
    if len(scores):
        past = cohorts.scorings_with_outcomes(scores, as_of, cfg.horizon_days, cfg.grace_days)
        labels = cohorts.realised_labels(t, past, cfg, until=as_of) if past else None
    numeric = [f.name for f in FEATURES if f.kind == "numeric"]
    return compute_report(
        frames, as_of, months=months, grace_days=cfg.grace_days, gross_margin=gross_margin,
        costs=read_costs(costs) if costs is not None else None, training_frame=training,
        feature_candidates=numeric, scores=scores, labels=labels,
    )


def write_report(report: KpiReport, out: Path) -> Path:
    """Write the HTML file (folders created); returns its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


__all__ = ["KpiReport", "build_report", "compute_report", "decile_dates", "find_costs", "read_costs", "render_html",
           "write_report"]
