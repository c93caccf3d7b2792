"""Training benchmark: the full backtest + final fit on 20k accounts × 52 weekly as-of dates.

Reference measured in the same run: one logistic-regression baseline fit on the same labelled rows.
Writes the "Training" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.training [--data work/bench/sim20k] [--dates 52]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from benchmarks.report import machine, peak_rss_mb, update_section
from churnml.config import Settings
from churnml.data.load import load_data
from churnml.model.baselines import LogisticBaseline
from churnml.simulate.oracle import read_truth
from churnml.training.frames import build_training_frame
from churnml.training.labels import observed_until
from churnml.training.train import MODEL_NAME, TrainConfig, train


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("work/bench/sim20k"))
    ap.add_argument("--dates", type=int, default=52)
    args = ap.parse_args()
    settings = Settings()
    t0 = time.perf_counter()
    loaded = load_data(settings, args.data)
    end = observed_until(loaded.tables)
    # The last `dates` weekly as-of dates whose 90-day horizon (+ grace) is observed, so every row is labelled.
    last = end - dt.timedelta(days=settings.labels.horizon_days + settings.labels.grace_days)
    dates = [last - dt.timedelta(days=7 * i) for i in range(args.dates)][::-1]
    frame, fs = build_training_frame(loaded.tables, dates, settings.labels)
    t_frame = time.perf_counter() - t0
    labelled = frame[frame["churned"].notna()]

    t1 = time.perf_counter()
    result = train(frame, TrainConfig(horizon_days=settings.labels.horizon_days, figures=False),
                   truth=read_truth(args.data))
    t_train = time.perf_counter() - t1

    t2 = time.perf_counter()
    LogisticBaseline(features=fs.names).fit(labelled, labelled["churned"].astype(int))
    t_logistic = time.perf_counter() - t2

    overall = result.metrics["overall"].set_index("model")
    auc = overall["roc_auc"].to_dict()
    body = f"""Command: `.venv/bin/python -m benchmarks.training --data {args.data} --dates {args.dates}`
(measured {dt.date.today()}, {machine()}; the 2 cores may be shared with other jobs).

Data: simulator 20,000 accounts × 24 months; {args.dates} weekly as-of dates ({dates[0]} → {dates[-1]});
{len(frame):,} rows, {len(labelled):,} labelled, {len(fs.specs)} features.

| step | seconds |
|---|---|
| validate + features + labels (DuckDB) | {t_frame:.0f} |
| `train`: 4-fold rolling-origin backtest of LightGBM + 2 baselines, then the final calibrated fit | **{t_train:.0f}** |
| reference: one logistic-regression fit on all labelled rows | {t_logistic:.0f} |

- Training / one logistic fit: {t_train / max(t_logistic, 1e-9):.1f}×. Peak memory {peak_rss_mb():,.0f} MB.
- Backtest ROC-AUC: LightGBM {auc.get(MODEL_NAME, float('nan')):.3f}, logistic {auc.get('logistic', float('nan')):.3f},
  health score {auc.get('health_score', float('nan')):.3f}, oracle {auc.get('oracle', float('nan')):.3f}.
"""
    update_section("Training", body)
    print(body)
    print(json.dumps({"train_s": t_train}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
