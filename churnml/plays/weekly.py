"""The week's alert step over the score store, the play-effect table from the recorded holdout, and their printing.

`alert_week` reads one scoring (and each account's previous one) from the score store, raises the causes and
applies them to the alert store. `recorded_units` gathers the eligible units whose outcome is known: alerts from
the alert store (routed or held out), or, in a simulated world with plays, the CSM decisions the simulator
recorded with their holdout flag (`truth/play_assignments.parquet`, standing in for weeks of alert history).
`effect_report` turns them into the per-play table with bootstrap-by-account intervals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from churnml.config import Settings
from churnml.data.sources import Tables
from churnml.features import feature_set
from churnml.plays.alerts import WeekPlan, alert_causes, routed
from churnml.plays.effects import holdout_effects
from churnml.plays.state import AlertStore
from churnml.scoring.store import ScoreStore
from churnml.simulate.plays import ASSIGNMENTS_FILE, PlaySimParams
from churnml.training.labels import labels_expr


def sim_plays(settings: Settings) -> PlaySimParams | None:
    """The simulator's plays for `simulate.plays` (holdout share `plays.holdout`), or None when off."""
    return PlaySimParams(holdout=settings.plays.holdout) if settings.simulate.plays else None


@dataclass(frozen=True)
class WeekAlerts:
    """One week of alerts: its date, what changed in the store, and the whole store afterwards."""

    as_of: dt.date
    plan: WeekPlan
    alerts: pd.DataFrame


def alert_week(settings: Settings, as_of: dt.date | None = None) -> WeekAlerts:
    """Raise this week's alerts from the score store and apply them to `<work_dir>/alerts.duckdb`.

    Raises:
        ValueError: the score store holds no scoring (for `as_of`, or at all).
    """
    scores = ScoreStore.from_work_dir(settings.work_dir, wait_s=settings.scoring.store_wait_s)
    dates = scores.as_of_dates()
    if not dates:
        raise ValueError(f"no scores in {settings.work_dir}: run the scoring first (churnml score)")
    as_of = as_of or dates[-1]
    rows = scores.read(as_of)
    if rows.empty:
        raise ValueError(f"no scores for {as_of} in the score store; scored dates: {dates[-3:]}")
    prev = scores.previous(as_of)
    before = dict(zip(prev["account_id"].astype(str), prev["risk_band"].astype(str), strict=True))
    causes = alert_causes(rows, before, settings.plays)
    store = AlertStore.from_work_dir(settings.work_dir)
    plan = store.update(as_of, causes, settings.plays)
    return WeekAlerts(as_of=as_of, plan=plan, alerts=store.read())


def _with_outcomes(units: pd.DataFrame, tables: Tables, settings: Settings) -> pd.DataFrame:
    """Join each unit's churn within the horizon after its date, and its MRR then, from the data."""
    dates = sorted({d.date() if hasattr(d, "date") else d for d in pd.to_datetime(units["as_of"])})
    cfg = settings.labels.model_copy(update={"horizon_days": settings.plays.horizon_days})
    lab = labels_expr(tables, dates, cfg).to_pandas()
    lab["as_of"] = pd.to_datetime(lab["as_of"]).astype("datetime64[ns]")
    lab["account_id"] = lab["account_id"].astype(str)
    out = units.assign(as_of=pd.to_datetime(units["as_of"]).astype("datetime64[ns]"),
                       account_id=units["account_id"].astype(str))
    out = out.merge(lab[["account_id", "as_of", "churned"]], on=["account_id", "as_of"], how="inner")
    if "mrr" not in out.columns and "subscriptions" in tables:
        mrr = feature_set(tables, dates, settings.labels, only=["mrr"]).table.to_pandas()
        mrr["as_of"] = pd.to_datetime(mrr["as_of"]).astype("datetime64[ns]")
        out = out.merge(mrr[["account_id", "as_of", "mrr"]], on=["account_id", "as_of"], how="left")
    out = out[out["churned"].notna()].copy()
    out["churned"] = out["churned"].astype(bool)
    return out


def recorded_units(settings: Settings, tables: Tables) -> tuple[pd.DataFrame, str]:
    """Eligible units with a known outcome, and where they came from (see the module docstring)."""
    sim = Path(settings.data.dir) / ASSIGNMENTS_FILE
    if sim.exists():
        asg = pd.read_parquet(sim).rename(columns={"month": "as_of"})
        units = asg[["account_id", "as_of", "play", "held_out"]]
        source = "the simulator's recorded CSM decisions (truth/play_assignments.parquet)"
    else:
        alerts = AlertStore.from_work_dir(settings.work_dir).read()
        # One unit per account and opening week: its alerts share the holdout flag; the first cause's play.
        first = alerts.sort_values(["opened_as_of", "account_id", "cause"]).drop_duplicates(
            ["account_id", "opened_as_of"])
        units = first.rename(columns={"opened_as_of": "as_of"})[["account_id", "as_of", "play", "held_out", "mrr"]]
        source = f"the alert store ({AlertStore.from_work_dir(settings.work_dir).path})"
    if units.empty:
        return units.assign(churned=pd.Series(dtype=bool)), source
    return _with_outcomes(units, tables, settings), source


def effect_report(settings: Settings, tables: Tables) -> tuple[pd.DataFrame, str]:
    """The per-play holdout table (`effects.holdout_effects`) from the recorded units, and their source."""
    units, source = recorded_units(settings, tables)
    if units.empty:
        return pd.DataFrame(), source
    units["held_out"] = units["held_out"].astype(bool)
    return holdout_effects(units, n_boot=settings.plays.bootstrap, seed=settings.plays.seed), source


def print_alerts(console: Console, week: WeekAlerts, limit: int = 10) -> None:
    """This week's routed alerts, one row per account (newest first, highest MRR first: its causes, what
    changed, the plays and its top reason); each play's text once below the table; the holdout counted."""
    live = routed(week.alerts)
    new = week.plan.new
    n_accounts = live["account_id"].nunique()
    t = Table(title=f"Alerts on {week.as_of}: {len(new)} new ({int(new['held_out'].sum())} held out, recorded), "
                    f"{len(live)} open and routed on {n_accounts} accounts, "
                    f"{len(week.plan.cleared)} closed", title_justify="left")
    for col, just in (("account", "left"), ("MRR", "right"), ("what changed", "left"), ("play", "left"),
                      ("top reason", "left")):
        t.add_column(col, justify=just, overflow="fold" if col == "account" else "ellipsis")  # type: ignore[arg-type]
    ordered = live.sort_values(["opened_as_of", "mrr"], ascending=[False, False], kind="stable")
    accounts = list(dict.fromkeys(ordered["account_id"]))[:limit]
    shown = ordered[ordered["account_id"].isin(accounts)]
    for aid, rows in shown.groupby("account_id", sort=False):
        first = rows.iloc[0]
        reason = str(first["reasons"] or "").split("; ")[0]
        mrr = "" if pd.isna(first["mrr"]) else f"${float(first['mrr']):,.0f}"
        t.add_row(str(aid), mrr, "\n".join(str(d) for d in rows["detail"]),
                  "\n".join(dict.fromkeys(str(p) for p in rows["play"])), reason)
    console.print(t)
    if n_accounts > len(accounts):
        console.print(f"… and {n_accounts - len(accounts)} more accounts (churnml serve: the "
                      "page and /v1/accounts/{id} show every alert)", highlight=False)
    for play, text in dict(zip(shown["play"], shown["play_text"], strict=True)).items():
        console.print(f"[bold]{play}[/]: {text}", highlight=False)


def print_effects(console: Console, effects: pd.DataFrame, source: str, horizon_days: int) -> None:
    """The per-play table: churn routed vs held out, churn prevented and MRR kept gain with 95% intervals."""
    if effects.empty:
        console.print(f"no play effects yet: no eligible unit with a known {horizon_days}-day outcome in {source}")
        return
    t = Table(title=f"Which plays work (holdout; {horizon_days}-day churn; from {source})", title_justify="left")
    for col in ("play", "routed / held out", "churn routed", "churn held out", "churn prevented (95%)",
                "MRR kept gain (95%)"):
        t.add_column(col, justify="left" if col == "play" else "right")
    for r in effects.to_dict("records"):
        t.add_row(
            str(r["play"]), f"{r['n_routed']} / {r['n_held_out']}", f"{r['churn_routed']:.1%}",
            f"{r['churn_held_out']:.1%}",
            f"{100 * r['churn_prevented']:+.1f} pts ({100 * r['churn_prevented_lo']:+.1f} to "
            f"{100 * r['churn_prevented_hi']:+.1f})",
            f"{100 * r['mrr_kept_gain']:+.1f} pts ({100 * r['mrr_kept_gain_lo']:+.1f} to "
            f"{100 * r['mrr_kept_gain_hi']:+.1f})",
        )
    console.print(t)
    console.print("An interval that includes 0 means the holdout cannot yet tell the play from doing nothing.")


def demo_plays(settings: Settings, console: Console, tables: Tables | None = None) -> None:
    """The demo's plays step: this week's alerts with their plays, then the play-effect table."""
    from churnml.data.load import load_data

    tables = tables if tables is not None else load_data(settings).tables
    week = alert_week(settings)
    print_alerts(console, week)
    effects, source = effect_report(settings, tables)
    print_effects(console, effects, source, settings.plays.horizon_days)
