"""The CS KPI report: one self-contained HTML file (figures embedded as SVG), readable offline.

`compute_report` is pure (pandas tables in, a `KpiReport` of tables out); `render_html`
(`churnml.reporting.html`) turns it into HTML with the Jinja2 template `churnml/reporting/templates/kpi.html.j2`;
`build_report` is the job at the edge: it opens and validates the data, keeps only what was known before the
as-of date, computes the features for the decile analysis, reads past scorings from the score store and their
realised outcomes, and the forecast's stored backtest, and returns the report.

What is in it: KPI tiles (trailing-period and annualised retention, each against the period before:
`churnml.reporting.tiles`); monthly logo churn and retention, GRR/NRR and MRR movements; NPS, CSAT, CES, response
rates and CSM team eNPS; experience next to outcomes per segment (either alone misleads); LTV (and LTV:CAC when
acquisition costs are given); by segment and by CSM; cohort analysis (churn by decile of key features,
retention by signup cohort); model health (risk bands against realised churn for scorings whose horizon has
passed) and revenue at risk by segment and CSM from the latest scoring; the GRR/NRR forecast made at past
dates against what happened, by segment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churnml.reporting import cohorts, kpi
from churnml.reporting import costs as costs_kpi
from churnml.reporting import tiles as kt
from churnml.reporting.forecasts import current_forecast, forecast_history, read_forecast_backtest
from churnml.reporting.html import render_html

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
    discrimination: dict[str, float] | None = None
    scorings: list[dt.date] = field(default_factory=list)
    at_risk_as_of: dt.date | None = None
    at_risk_segment: pd.DataFrame | None = None
    at_risk_csm: pd.DataFrame | None = None
    has_costs: bool = False
    notes: list[str] = field(default_factory=list)
    period: kt.Period | None = None  # the tiles' figures (None only for a report built by hand)
    prior: kt.Period | None = None  # the same number of months before, where the data reaches back
    gross_margin: float = 1.0
    forecast_history: pd.DataFrame | None = None  # `churnml.reporting.forecasts.forecast_history`
    forecast_levels: tuple[float, ...] = (0.8, 0.95)
    forecast_now: tuple[dt.date, int, pd.DataFrame] | None = None  # the latest forecast, if made this week


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
    observed_from: dt.date | None = None,
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
        observed_from: the first day the data is known to be complete (e.g. its first activity): the period
            compared against starts no earlier. Subscriptions often reach back further than the data
            does, but only for the accounts still alive when the data begins, so the churn of earlier months
            would be missing.

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

    first_month = dt.date(first_sub.year, first_sub.month, 1)
    if observed_from is not None:
        first_month = max(first_month, kt.next_month(observed_from - dt.timedelta(days=1)))
    report = KpiReport(
        as_of=as_of, months=month_list, overall=overall, revenue=revenue, experience=exp, enps=enps,
        segments=splits.get("segment", pd.DataFrame()), csms=csms, revenue_by_segment=by_segment,
        retention=retention, deciles=deciles, key_features=keys, has_costs=costs is not None, notes=notes,
        period=kt.Period(month_list, overall.iloc[0].to_dict(), kt.trailing(subs, month_list, grace_days)),
        prior=_prior(subs, surveys, accounts, kt.prior_months(month_list, first_month), grace_days, gross_margin,
                     costs),
        gross_margin=gross_margin,
    )
    _model_health(report, scores, labels)
    return report


def _prior(subs: pd.DataFrame, surveys: pd.DataFrame | None, accounts: pd.DataFrame, months: list[dt.date],
           grace_days: int, gross_margin: float, costs: pd.DataFrame | None) -> kt.Period | None:
    """The same figures over the months just before the period (None when the data does not reach back)."""
    if not months:
        return None
    revenue = kpi.revenue_monthly(subs, months, grace_days=grace_days, gross_margin=gross_margin)
    overall = kpi.summarise_period(revenue, None, surveys, gross_margin=gross_margin)
    if costs is not None:  # the same call as the period's own, which raised already if the costs are unusable
        overall = costs_kpi.ltv_cac(overall, costs_kpi.cac(costs, revenue, accounts=accounts))
    return kt.Period(months, overall.iloc[0].to_dict(), kt.trailing(subs, months, grace_days))


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
            report.discrimination = cohorts.realised_discrimination(s, labels)
            known = labels[labels["churned"].notna()]
            report.scorings = sorted({pd.Timestamp(d).date() for d in known["as_of"]})
    if report.bands is None:
        report.notes.append("No past scoring's horizon has passed yet: risk bands cannot be checked against "
                            "realised churn.")


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
    gross_margin: float | None = None,
) -> KpiReport:
    """Open and validate the data, read past scorings, and compute the report for `as_of`.

    `as_of` defaults to the end of the data; a later one is refused (`churnml.data.dates.resolve_as_of`).
    Acquisition costs come from `costs`, else from an `acquisition_costs` table in the data folder, if any.
    `gross_margin` defaults to `reporting.gross_margin`. The forecast section reads the backtest
    `churnml train-outcomes` stored, if any.
    """
    from churnml.data.dates import resolve_as_of
    from churnml.data.load import load_data
    from churnml.features.catalog import catalog
    from churnml.scoring.store import ScoreStore
    from churnml.training.frames import build_training_frame

    loaded = load_data(settings, data)
    t = loaded.tables
    as_of = resolve_as_of(t, as_of, "report")  # months not observed yet would read as no churn
    costs = costs if costs is not None else find_costs(Path(data) if data is not None else settings.data.dir)
    frames = {name: t[name].to_pandas() for name in ("accounts", "subscriptions", "surveys", "tickets", "csm_enps")
              if name in t}
    cfg = settings.labels
    training = None
    observed_from = None
    if "events" in t:
        observed_from = pd.Timestamp(t.con.execute(t["events"].ts.min())).date()
        first = observed_from + dt.timedelta(days=settings.features.history())
        dates = decile_dates(first, as_of, cfg.horizon_days, cfg.grace_days)
        if dates:
            training, _ = build_training_frame(t, dates, cfg, until=as_of, features=settings.features)
    scores = ScoreStore.from_work_dir(settings.work_dir).read()
    labels = None
    if len(scores):
        past = cohorts.scorings_with_outcomes(scores, as_of, cfg.horizon_days, cfg.grace_days)
        labels = cohorts.realised_labels(t, past, cfg, until=as_of) if past else None
    numeric = [f.name for f in catalog(settings.features) if f.kind == "numeric"]
    report = compute_report(
        frames, as_of, months=months, grace_days=cfg.grace_days,
        gross_margin=settings.reporting.gross_margin if gross_margin is None else gross_margin,
        costs=read_costs(costs) if costs is not None else None, training_frame=training,
        feature_candidates=numeric, scores=scores, labels=labels, observed_from=observed_from,
    )
    bt = read_forecast_backtest(settings.work_dir)
    report.forecast_levels = settings.forecast.levels
    if bt is None:
        report.notes.append("No forecast backtest: run `churnml train-outcomes` to see the GRR/NRR forecast "
                            "against what happened.")
    else:
        report.forecast_history = forecast_history(bt, as_of, cfg.horizon_days, cfg.grace_days)
    report.forecast_now = current_forecast(settings.work_dir, as_of)
    return report


def write_report(report: KpiReport, out: Path) -> Path:
    """Write the HTML file (folders created); returns its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return out


__all__ = ["KpiReport", "build_report", "compute_report", "decile_dates", "find_costs", "read_costs", "render_html",
           "write_report"]
