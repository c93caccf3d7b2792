"""Outside worlds: churnml's own pipeline on event data nobody on this project wrote, against the sceptic's baselines.

For each world in `../shared/data/outside/` (today: fightchurn_socialnet7, see its README): cut-off dates T;
train with the product's pipeline and default config (only the label kind, horizon and grace set) on the rows
whose labels are known before T; score the customers active at T; label them from the data after T; in the same
run fit the sceptic's baselines (days since last activity, RFM logistic, logistic on all features, health
score) on the same rows. Every figure carries a 95% interval from a bootstrap over accounts, paired across
models on the same customers. Writes the "Outside data" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.outside_data [--outside ../shared/data/outside] [--work work/bench/outside]

Point in time: features at a date only see rows before it, and a training row's label is used only when its
horizon and grace period had passed by T, so one feature frame over all dates serves every cut-off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import machine, update_section
from churnml.config import DataConfig, LabelsConfig, Settings
from churnml.data.load import load_data
from churnml.features import build_training_frame
from churnml.training.backtest import LABEL, fit_on_fold, fold_parts
from churnml.training.bootstrap import backtest_intervals
from churnml.training.frames import training_dates
from churnml.training.job import train_config
from churnml.training.train import MODEL_NAME, baseline_factories, train


@dataclass(frozen=True)
class World:
    """One outside world and how its README defines churn and the comparison."""

    name: str
    cutoffs: tuple[dt.date, ...]
    labels: LabelsConfig
    min_tenure_days: int
    peer: tuple[tuple[str, str], ...]  # (method, ROC-AUC as the README gives it)


FIGHTCHURN = World(
    name="fightchurn_socialnet7",
    cutoffs=(dt.date(2021, 1, 4), dt.date(2021, 2, 1)),
    labels=LabelsConfig(kind="contractual", horizon_days=28, grace_days=7),
    min_tenure_days=14,
    peer=(("fight-churn's own pipeline: its metrics + L1 logistic regression", "0.569 (0.51–0.64)"),
          ("fight-churn's own pipeline: its metrics + XGBoost", "0.582 (0.51–0.65)"),
          ("fewer events in the last 28 days", "0.564"),
          ("days since the last event", "0.492")),
)


# ----------------------------------------------------------------------------------------------------------------
# MINIMAL CONVERSION, to be replaced by `churnml import --mapping configs/examples/fightchurn_socialnet7.yaml` once
# that mapping (and validation that keeps legitimate repeated events) lands in main (helper H14d). Until then:
# fight-churn's schema is renamed to churnml's contract; its exclusive subscription end dates become inclusive
# last covered days; accounts get `created_at` = first subscription start and subscriptions `seats` = 1 (the
# product has neither; a constant carries no information); events keep every row, and the few that repeat
# (account, second, type) are quarantined by lenient validation and counted in the table below.
# ----------------------------------------------------------------------------------------------------------------


def convert_fightchurn(src: Path, out: Path) -> Path:
    """fight-churn's tables -> a churnml data folder (see the block comment above); returns the folder."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    s, o = str(src), str(out)
    con.execute(f"""COPY (SELECT CAST(account_id AS VARCHAR) AS account_id, CAST(start_date AS DATE) AS start_date,
        CAST(end_date AS DATE) - 1 AS end_date, CAST(mrr AS DOUBLE) AS mrr, product AS plan, 1::BIGINT AS seats,
        CAST(bill_period_months AS BIGINT) AS term_months FROM '{s}/subscription.parquet')
        TO '{o}/subscriptions.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT CAST(a.id AS VARCHAR) AS account_id,
        CAST(MIN(CAST(s.start_date AS DATE)) AS TIMESTAMP) AS created_at, a.channel, a.country
        FROM '{s}/account.parquet' a JOIN '{s}/subscription.parquet' s ON s.account_id = a.id
        GROUP BY a.id, a.channel, a.country) TO '{o}/accounts.parquet' (FORMAT parquet)""")
    (out / "events").mkdir(exist_ok=True)
    con.execute(f"""COPY (SELECT CAST(e.account_id AS VARCHAR) AS account_id, e.event_time AS ts,
        t.event_type_name AS event_type FROM '{s}/event.parquet' e JOIN '{s}/event_type.parquet' t
        USING (event_type_id)) TO '{o}/events/part-00000.parquet' (FORMAT parquet)""")
    return out


# ----------------------------------------------------------------------------------------------------------------


def first_start(data: Path) -> pd.Series:
    """First subscription start per account (tenure is counted from it)."""
    subs = pd.read_parquet(data / "subscriptions.parquet", columns=["account_id", "start_date"])
    return pd.to_datetime(subs.groupby("account_id")["start_date"].min())


def evaluate_cutoff(frame: pd.DataFrame, settings: Settings, cutoff: dt.date, starts: pd.Series,
                    world: World, fold: int) -> tuple[pd.DataFrame, str]:
    """Train before `cutoff`, score the tenured customers at it; long predictions of every model and the layout."""
    t = pd.Timestamp(cutoff)
    gap = pd.Timedelta(days=world.labels.horizon_days + world.labels.grace_days)
    before = frame[frame["as_of"] < t].copy()
    before.loc[before["as_of"] + gap > t, LABEL] = pd.NA  # outcome not yet known at the cut-off
    result = train(before, train_config(settings).model_copy(update={"figures": False}))
    at = frame[(frame["as_of"] == t) & frame[LABEL].notna()]
    tenure = (t - at["account_id"].map(starts)).dt.days
    at = at[tenure >= world.min_tenure_days]
    labelled = before[before[LABEL].notna()].reset_index(drop=True)
    features = result.model.feature_names_
    baselines, _ = baseline_factories(train_config(settings), features, list(labelled.columns))
    scored = {MODEL_NAME: result.model.predict_proba(at)[:, 1]}
    parts = fold_parts(labelled, result.layout.final)
    for name, factory in baselines.items():
        scored[name] = fit_on_fold(factory(), parts).predict_proba(at)[:, 1]
    base = pd.DataFrame({"fold": fold, "account_id": at["account_id"].to_numpy(), "as_of": at["as_of"].to_numpy(),
                         "y": at[LABEL].astype(int).to_numpy(), "mrr": at["mrr"].to_numpy(dtype=float)})
    rows = [base.assign(model=m, p=p) for m, p in scored.items()]
    return pd.concat(rows, ignore_index=True), result.layout.reason


def run_world(world: World, outside: Path, work: Path) -> dict[str, object]:
    """Convert, validate, build one point-in-time frame, evaluate every cut-off; the numbers for the table."""
    t0 = time.perf_counter()
    data = convert_fightchurn(outside / world.name, work / world.name / "data")
    settings = Settings(work_dir=work / world.name / "work", data=DataConfig(dir=data, lenient=True),
                        labels=world.labels)
    loaded = load_data(settings, data)
    quarantined = loaded.report.total_rejected
    last = max(world.cutoffs)
    dates = sorted({d for d in training_dates(loaded.tables, settings.features.every_days,
                                              world.labels.horizon_days) if d < last} | set(world.cutoffs))
    # Labels of the cut-off rows are read from the data after them; the data ends on 2021-03-01, so a re-signup
    # in the grace week after it cannot be seen (as for the peer's own figures).
    until = last + dt.timedelta(days=world.labels.horizon_days + world.labels.grace_days)
    frame, fs = build_training_frame(loaded.tables, dates, world.labels, until=until)
    t_frame = time.perf_counter() - t0
    starts = first_start(data)
    preds, layouts = [], []
    for k, cutoff in enumerate(world.cutoffs):
        p, reason = evaluate_cutoff(frame, settings, cutoff, starts, world, k)
        preds.append(p)
        layouts.append(f"{cutoff}: {reason}")
    pred = pd.concat(preds, ignore_index=True)
    iv = backtest_intervals(pred, MODEL_NAME, n_boot=1000, seed=0)
    return {"world": world, "pred": pred, "intervals": iv, "layouts": layouts, "features": len(fs.specs),
            "quarantined": quarantined, "frame_rows": len(frame), "seconds": time.perf_counter() - t0,
            "frame_seconds": t_frame}


NAMES = {"lightgbm": "churnml (LightGBM, default config)", "recency": "days since last activity alone",
         "rfm": "recency-frequency-monetary logistic", "logistic": "logistic regression on all features",
         "health_score": "hand-weighted health score"}


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.3f}"


def render(r: dict[str, object], command: str) -> str:
    """Markdown for one world."""
    world: World = r["world"]  # type: ignore[assignment]
    iv = r["intervals"]
    pred: pd.DataFrame = r["pred"]  # type: ignore[assignment]
    m = iv.metrics.set_index(["model", "metric"])  # type: ignore[attr-defined]
    d = iv.differences.set_index(["versus", "metric"])  # type: ignore[attr-defined]
    main = pred[pred["model"] == MODEL_NAME]
    lines = [
        f"### {world.name}", "",
        f"Command: `{command}` (measured {dt.date.today()}, {machine()}; shared cores, times rough).", "",
        f"Cut-offs {', '.join(str(c) for c in world.cutoffs)} pooled; {world.labels.kind} churn within "
        f"{world.labels.horizon_days} days, {world.labels.grace_days}-day grace (re-signup bridges a lapse); customers "
        f"active at the cut-off with tenure ≥ {world.min_tenure_days} days: {len(main):,} customer-dates, "
        f"{int(main['y'].sum())} churners, {main['account_id'].nunique():,} accounts. {r['features']} features, "
        f"{r['frame_rows']:,} rows; {r['quarantined']:,} event rows quarantined as repeats by validation; "
        f"{r['seconds']:.0f} s in all ({r['frame_seconds']:.0f} s import + features).", "",
        "| model (trained before each cut-off) | ROC-AUC (95%) | PR-AUC (95%) | ROC-AUC vs churnml (paired) |",
        "|---|---|---|---|",
    ]
    for model in pd.unique(pred["model"]):
        auc, pr = m.loc[(model, "roc_auc")], m.loc[(model, "pr_auc")]
        vs = "—" if model == MODEL_NAME else f"churnml {d.loc[(model, 'roc_auc'), 'verdict']}"
        lines.append(f"| {NAMES.get(model, model)} | {_fmt(auc['value'])} ({_fmt(auc['lo'])}–{_fmt(auc['hi'])}) | "
                     f"{_fmt(pr['value'])} ({_fmt(pr['lo'])}–{_fmt(pr['hi'])}) | {vs} |")
    lines += ["", "The peer's own figures (fight-churn README; whole world, both halves, so not the same customers:"
              " compare intervals, no pairing possible):", "", "| peer method | ROC-AUC |", "|---|---|"]
    lines += [f"| {name} | {auc} |" for name, auc in world.peer]
    lines += ["", "Layout chosen at each cut-off:", ""] + [f"- {s}" for s in r["layouts"]]  # type: ignore[operator]
    lines += ["", "Data brought in by the benchmark's own minimal conversion (see `convert_fightchurn`), not yet "
              "`churnml import` with a mapping: that mapping is another helper's work in progress."]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outside", type=Path, default=Path("../shared/data/outside"))
    ap.add_argument("--work", type=Path, default=Path("work/bench/outside"))
    args = ap.parse_args()
    command = f".venv/bin/python -m benchmarks.outside_data --outside {args.outside}"
    body = render(run_world(FIGHTCHURN, args.outside, args.work), command)
    update_section("Outside data", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
