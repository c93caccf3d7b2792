"""Forecast benchmark: the GRR / NRR forecast and the CBPE health estimate backtested on a simulated world.

For every evaluation date of the outcome models' rolling-origin backtest: forecast vs realised GRR / NRR
(portfolio and per segment), interval coverage, and mean absolute error against the naive forecasts (last
period's realised value; trailing four-period mean); estimated vs realised ROC-AUC of the churn model.
Writes the "Forecast" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.forecast [--accounts 800] [--folds 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import pandas as pd

from benchmarks.report import machine, update_section
from churnml.config import Settings
from churnml.forecast.backtest import backtest_forecast, score_backtest
from churnml.scoring.health import backtest_health, health_errors
from churnml.simulate import simulate_world
from churnml.training.outcomes import backtest_predictions, outcome_training_frame, train_outcomes
from churnml.training.train import TrainConfig


def _ci(row: pd.Series, key: str, pct: bool = True) -> str:
    f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.3f}")
    return f"{f(row[key])} ({f(row[key + '_lo'])}–{f(row[key + '_hi'])})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=800)
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("work/bench/forecast_sim"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not (args.out / "accounts.parquet").exists():
        simulate_world(args.out, accounts=args.accounts, start=dt.date(2024, 1, 1), months=24, seed=11,
                       progress=False)
    settings = Settings(data={"dir": args.out})
    frame, _, _ = outcome_training_frame(settings)
    cfg = TrainConfig(horizon_days=settings.labels.horizon_days, n_folds=args.folds, figures=False, baselines=[])
    results = train_outcomes(frame, cfg)
    pred = backtest_predictions(results)
    bt = backtest_forecast(frame, pred, results["churned"].backtest.folds, settings.labels, settings.forecast)
    score = score_backtest(bt, settings.forecast.levels)
    churn = pred.rename(columns={"p_churned": "p", "y_churned": "y"})
    health = health_errors(backtest_health(churn))
    aucs = {o: float(r.metrics["overall"].set_index("model").loc["lightgbm", "roc_auc"]) for o, r in results.items()}
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.forecast --accounts {args.accounts} --folds {args.folds}` "
        f"(measured {dt.date.today()}, {machine()}, {time.perf_counter() - t0:.0f} s).",
        "",
        f"Data: simulator, {args.accounts} accounts × 24 months (seed 11); {len(frame):,} weekly rows; "
        f"{bt['as_of'].nunique()} backtest as-of dates in {args.folds} folds; horizon "
        f"{settings.labels.horizon_days} days. Backtest ROC-AUC: "
        + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()) + ".",
        "Intervals in brackets: 95% bootstrap over as-of dates (dates of one fold overlap heavily, so the",
        "effective number of independent points is nearer the number of folds than of dates).",
        "",
        "| metric | scope | points | 80% coverage | 95% coverage | MAE forecast (pts) | MAE last period | "
        "MAE trailing 4 | forecast − last | forecast − trailing 4 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in score.iterrows():
        lines.append(
            f"| {r['metric'].upper()} | {r['scope']} | {r['points']} | {_ci(r, 'coverage80')} | "
            f"{_ci(r, 'coverage95')} | {_ci(r, 'mae_forecast')} | {_ci(r, 'mae_naive_last')} | "
            f"{_ci(r, 'mae_naive_trailing4')} | {100 * r['gain_vs_naive_last_lo']:.1f} to "
            f"{100 * r['gain_vs_naive_last_hi']:.1f} | {100 * r['gain_vs_naive_trailing4_lo']:.1f} to "
            f"{100 * r['gain_vs_naive_trailing4_hi']:.1f} |"
        )
    lines += ["", "Targets: coverage within ±10 points of nominal; error below both naive forecasts (the last two",
              "columns are 95% intervals of the MAE difference in points; below 0 throughout = beats it).", "",
              "Model health before labels (CBPE, churn model, per backtest date):", "",
              "| scope | points | MAE ROC-AUC | bias (estimated − realised) | realised inside 95% interval | "
              "MAE churner count |", "|---|---|---|---|---|---|"]
    for _, r in health.iterrows():
        lines.append(f"| {r['scope']} | {r['points']} | {r['mae_auc']:.3f} | {r['bias_auc']:+.3f} | "
                     f"{100 * r['coverage_auc']:.0f}% | {r['mae_churners']:.1f} |")
    lines += ["", "Outside world (fightchurn_socialnet7): not run yet."]
    update_section("Forecast", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
