"""The forecast, backtested like the model: at each past as-of date, the forecast made then vs what happened.

The outcome probabilities are the three models' out-of-time backtest predictions (same folds, every fold's
models fitted at least a horizon before its evaluation dates). Per fold, the amounts of change are learned
from the rows that fold's models were fitted on. Per forecast date d, the random effect's σ uses only what
was known at d: backtest residuals of dates on or before d − (horizon + grace), and the
prior from the data's history up to then (`churnml.forecast.dispersion`); a date whose outcome was not yet
known never informs a forecast, so coverage is what a user would have seen. Naive forecasts
a leader uses today, both point-in-time: the realised GRR/NRR of the latest
cohort whose horizon (and grace) had ended by the as-of date ("last period"), and the mean of that and the
three cohorts one, two and three horizons before it ("trailing four periods").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnml.config import ForecastConfig, LabelsConfig
from churnml.forecast.dispersion import effect_at, model_groups, prior_groups
from churnml.forecast.montecarlo import OUTCOME_ORDER, Portfolio, draw_revenue
from churnml.forecast.params import POOLED, ForecastParams, fit_amounts
from churnml.forecast.portfolio import ALL, summarise
from churnml.training.backtest import Fold

METRICS = ("grr", "nrr")


def realised_retention(frame: pd.DataFrame) -> pd.DataFrame:
    """Realised GRR and NRR per (as_of, group) over labelled rows: group `all` and each segment.

    GRR = Σ min(MRR at horizon, MRR today) / Σ MRR today; NRR = Σ MRR at horizon / Σ MRR today.
    """
    rows = frame[frame["churned"].notna() & (frame["mrr"] > 0)]
    rows = rows.assign(
        _kept=np.minimum(rows["mrr_horizon"], rows["mrr"]), group=rows["segment"].astype(str)
        if "segment" in rows else POOLED
    )
    parts = [rows.assign(group=ALL), rows] if "segment" in rows else [rows.assign(group=ALL)]
    g = pd.concat(parts).groupby(["as_of", "group"], observed=True)
    out = g.agg(base=("mrr", "sum"), kept=("_kept", "sum"), net=("mrr_horizon", "sum")).reset_index()
    out["grr"] = out["kept"] / out["base"]
    out["nrr"] = out["net"] / out["base"]
    return out[["as_of", "group", "grr", "nrr"]]


def naive_forecasts(
    realised: pd.DataFrame, dates: Sequence[pd.Timestamp], lag_days: int, period_days: int
) -> pd.DataFrame:
    """Last-period and trailing-four-period forecasts per (as_of, group, metric), from cohorts known by then.

    The latest known cohort at date d is the last as-of date ≤ d − `lag_days` (horizon + grace); the
    trailing four take it and the latest dates ≤ it − k × `period_days`, k = 1..3 (fewer where the data
    does not reach back).
    """
    rows = []
    for group, r in realised.groupby("group"):
        r = r.sort_values("as_of")
        when = pd.to_datetime(r["as_of"]).to_numpy()
        for d in dates:
            picks = []
            for k in range(4):
                cut = np.datetime64(pd.Timestamp(d) - pd.Timedelta(days=lag_days + k * period_days))
                i = np.searchsorted(when, cut, side="right") - 1
                if i >= 0:
                    picks.append(i)
            if not picks:
                continue
            for m in METRICS:
                vals = r[m].to_numpy()
                rows.append({"as_of": pd.Timestamp(d), "group": group, "metric": m, "naive_last": vals[picks[0]],
                             "naive_trailing4": float(np.mean(vals[sorted(set(picks))]))})
    return pd.DataFrame(rows)


def _date_forecast(
    as_of: pd.Timestamp, rows: pd.DataFrame, params: ForecastParams, cfg: ForecastConfig, seed: int
) -> pd.DataFrame:
    """Forecast rows (as_of, group, metric, forecast, sd, lo/hi per level) for one evaluation date."""
    rows = rows[rows["mrr"] > 0]
    seg = rows["segment"].astype(str) if "segment" in rows else pd.Series(POOLED, index=rows.index)
    codes, segments = pd.factorize(seg, sort=True)
    pf = Portfolio(rows["mrr"].to_numpy(float), rows[[f"p_{o}" for o in OUTCOME_ORDER]].to_numpy(float),
                   codes, list(segments))
    member = np.hstack([np.ones((len(rows), 1), bool), np.eye(len(segments), dtype=bool)[codes]])
    gross, net = draw_revenue(pf, params, member, cfg.draws, seed)
    table = summarise(gross, net, pf.mrr @ member, np.zeros(member.shape[1]), cfg.levels)
    table.insert(0, "group", [ALL, *segments])
    out = []
    for m in METRICS:
        cols = {c: c.removeprefix(f"{m}_") for c in table.columns if c.startswith(f"{m}_")}
        part = table[["group", m, *cols]].rename(columns={m: "forecast", **cols})
        out.append(part.assign(as_of=pd.Timestamp(as_of), metric=m))
    return pd.concat(out, ignore_index=True)


def backtest_forecast(
    frame: pd.DataFrame,
    pred: pd.DataFrame,
    folds: Sequence[Fold],
    labels: LabelsConfig,
    cfg: ForecastConfig,
) -> pd.DataFrame:
    """Forecast vs realised (and the naive forecasts) for every evaluation date of every fold.

    Args:
        frame: the outcome frame (`churnml.training.outcomes.outcome_frame`).
        pred: `churnml.training.outcomes.backtest_predictions` of the three models.
        folds: the backtest folds (the churn result's `backtest.folds`).
        labels / cfg: label horizon and grace; draws, levels, random effect.

    Returns:
        One row per (as_of, group, metric): fold, forecast, sd, lo<level>/hi<level>, `sigma_dates` (backtest
        dates whose residuals σ used), realised, naive_last, naive_trailing4. Groups are `all` and each segment.
    """
    labelled = frame[frame["churned"].notna()]
    realised = realised_retention(frame)
    lag = labels.horizon_days + labels.grace_days
    if cfg.random_effect:
        model, prior = model_groups(pred, OUTCOME_ORDER), prior_groups(frame, OUTCOME_ORDER, lag)
    chunks = []
    for fold in folds:
        mine = pred[pred["fold"] == fold.index]
        if mine.empty:
            continue
        amounts = fit_amounts(labelled[labelled["as_of"] <= fold.last_fit_date()])
        for i, (as_of, rows) in enumerate(mine.groupby("as_of")):
            sigma, shared, n = ({o: 0.0 for o in OUTCOME_ORDER}, {}, 0) if not cfg.random_effect else \
                effect_at(model, prior, OUTCOME_ORDER, pd.Timestamp(as_of), lag)
            params = ForecastParams(amounts, sigma, labels.horizon_days, n, shared=shared)
            part = _date_forecast(pd.Timestamp(as_of), rows, params, cfg, cfg.seed + 1000 * fold.index + i)
            chunks.append(part.assign(fold=fold.index, sigma_dates=n))
    fc = pd.concat(chunks, ignore_index=True)
    dates = sorted(fc["as_of"].unique())
    naive = naive_forecasts(realised, dates, lag, labels.horizon_days)
    real = realised.melt(id_vars=["as_of", "group"], value_vars=list(METRICS), var_name="metric",
                         value_name="realised")
    out = fc.merge(real, on=["as_of", "group", "metric"], how="left")
    return out.merge(naive, on=["as_of", "group", "metric"], how="left")


def _stats(df: pd.DataFrame, levels: Sequence[float]) -> dict[str, float]:
    out = {f"coverage{round(lv * 100)}": float(((df["realised"] >= df[f"lo{round(lv * 100)}"])
                                                 & (df["realised"] <= df[f"hi{round(lv * 100)}"])).mean())
           for lv in levels}
    for col in ("forecast", "naive_last", "naive_trailing4"):
        out[f"mae_{col}"] = float((df[col] - df["realised"]).abs().mean())
    return out


def score_backtest(
    bt: pd.DataFrame, levels: Sequence[float], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Coverage and mean absolute error per metric and scope (`all` accounts; segments pooled), with 95%
    bootstrap intervals that resample as-of dates (points of one date share outcomes, so they move together).

    Only rows where both naive forecasts exist are scored, so every error is over the same points.
    """
    rng = np.random.default_rng(seed)
    bt = bt.dropna(subset=["realised", "naive_last", "naive_trailing4"])
    rows = []
    for metric in METRICS:
        for scope, sub in (("portfolio", bt[bt["group"] == ALL]), ("segments", bt[bt["group"] != ALL])):
            sub = sub[sub["metric"] == metric]
            if sub.empty:
                continue
            point = _stats(sub, levels)
            by_date = [g for _, g in sub.groupby("as_of")]
            boot = [_stats(pd.concat([by_date[i] for i in rng.integers(0, len(by_date), len(by_date))]), levels)
                    for _ in range(n_boot)]
            row: dict[str, object] = {"metric": metric, "scope": scope, "points": len(sub),
                                      "dates": len(by_date)}
            for k, v in point.items():
                lo, hi = np.quantile([b[k] for b in boot], [0.025, 0.975])
                row[k], row[f"{k}_lo"], row[f"{k}_hi"] = v, float(lo), float(hi)
            for naive in ("naive_last", "naive_trailing4"):
                diff = [b["mae_forecast"] - b[f"mae_{naive}"] for b in boot]
                lo, hi = np.quantile(diff, [0.025, 0.975])
                row[f"gain_vs_{naive}_lo"], row[f"gain_vs_{naive}_hi"] = float(lo), float(hi)
            rows.append(row)
    return pd.DataFrame(rows)
