"""Training benchmark: the full backtest + final fit on 20k accounts × 52 weekly as-of dates.

Reference measured in the same run: one logistic-regression baseline fit on the same labelled rows. The world is
simulated first when `--data` holds none (20,000 accounts x 24 months, seed 11, the demo's start date). Writes the
"Training" section of docs/benchmarks.md: times, and every model's backtest metrics with 95% intervals (bootstrap
by account) and the plain-words verdicts, against the simulator's exact oracle.

    .venv/bin/python -m benchmarks.training [--data work/bench/sim20k] [--dates 52]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from benchmarks.models import table
from benchmarks.report import machine, peak_rss_mb, update_section
from churnml.config import Settings, load_settings
from churnml.data.load import load_data
from churnml.model.baselines import LogisticBaseline
from churnml.simulate import simulate_world
from churnml.simulate.oracle import read_truth
from churnml.training.frames import build_training_frame
from churnml.training.labels import observed_until
from churnml.training.train import MODEL_NAME, TrainConfig, train


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("work/bench/sim20k"))
    ap.add_argument("--dates", type=int, default=52)
    ap.add_argument("--accounts", type=int, default=20_000, help="accounts to simulate when --data holds no world")
    ap.add_argument("--months", type=int, default=24)
    args = ap.parse_args()
    settings = Settings()
    if not (args.data / "truth" / "params.json").exists():
        start = dt.date.fromisoformat(str(load_settings().simulate.start))
        simulate_world(args.data, args.accounts, start, args.months, seed=11)
    params = json.loads((args.data / "truth" / "params.json").read_text())
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

    baselines = [m for m in result.metrics["overall"]["model"] if m not in (MODEL_NAME, "oracle")]
    layout = result.layout.reason if result.layout is not None else "configured layout"
    world = f'{int(params["accounts"]):,} accounts × {params["months"]} months (seed {params["seed"]})'
    trained = f'LightGBM + {len(baselines)} baselines ({", ".join(baselines)})'
    verdicts = "\n".join(f"- ROC-AUC: {v}" for v in result.verdicts("roc_auc"))
    body = f"""Command: `.venv/bin/python -m benchmarks.training --data {args.data} --dates {args.dates}`
(measured {dt.date.today()}, {machine()}; the 2 cores may be shared with other jobs).

Data: simulator {world}; {args.dates} weekly as-of dates ({dates[0]} → {dates[-1]});
{len(frame):,} rows, {len(labelled):,} labelled, {len(fs.specs)} features.

| step | seconds |
|---|---|
| validate + features + labels (DuckDB) | {t_frame:.0f} |
| `train`: rolling-origin backtest of {trained}, intervals, then the final calibrated fit | **{t_train:.0f}** |
| reference: one logistic-regression fit on all labelled rows | {t_logistic:.0f} |

- Training / one logistic fit: {t_train / max(t_logistic, 1e-9):.1f}×. Peak memory {peak_rss_mb():,.0f} MB.
- Layout: {layout}.

{chr(10).join(table(result))}

{verdicts}
"""
    update_section("Training", body)
    print(body)
    print(json.dumps({"train_s": t_train}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
