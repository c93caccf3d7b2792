"""Model quality on the demo's simulated world: every model with intervals, against the simulator's exact oracle.

Simulates the demo world (the `simulate` section of configs/default.yaml unless overridden), runs the product's
training step (`training_frame` + `train` with the `models` section), and writes the "Models" section of
docs/benchmarks.md from the result: the chosen layout, each model's metrics with 95% intervals (bootstrap by
account), the paired difference of LightGBM against each other model in words that follow the interval, and
LightGBM / oracle with the day-level oracle.

    .venv/bin/python -m benchmarks.models [--accounts 1200] [--months 24] [--seed 7] [--work work/bench/models]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from benchmarks.report import machine, update_section
from churnml.config import DataConfig, load_settings
from churnml.simulate import simulate_world
from churnml.simulate.oracle import read_truth
from churnml.training.job import train_config, training_frame
from churnml.training.train import MODEL_NAME, TrainingResult, train

COLS = (("roc_auc", "ROC-AUC"), ("churned_mrr_share_top10", "churned MRR in top 10%"), ("log_loss", "log loss"),
        ("brier", "Brier"))


def table(result: TrainingResult) -> list[str]:
    """Markdown rows: each model's metrics with their intervals."""
    overall = result.metrics["overall"]
    head = "| model (out-of-time folds) | " + " | ".join(f"{label} (95%)" for _, label in COLS) + " |"
    rows = [head, "|" + "---|" * (len(COLS) + 1)]
    for r in overall.to_dict(orient="records"):
        cells = [f"{r[k]:.3f} ({r[k + '_lo']:.3f}–{r[k + '_hi']:.3f})" for k, _ in COLS]
        rows.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return rows


def main() -> int:
    defaults = load_settings().simulate
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=defaults.accounts)
    ap.add_argument("--months", type=int, default=defaults.months)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--work", type=Path, default=Path("work/bench/models"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = args.work / "data"
    simulate_world(data, args.accounts, dt.date.fromisoformat(str(defaults.start)), args.months, args.seed,
                   progress=False)
    settings = load_settings().model_copy(update={"work_dir": args.work / "work", "data": DataConfig(dir=data)})
    frame, _, _ = training_frame(settings, data)
    result = train(frame, train_config(settings).model_copy(update={"figures": False}), truth=read_truth(data))
    overall = result.metrics["overall"].set_index("model")
    ratio = overall.loc[MODEL_NAME, "roc_auc"] / overall.loc["oracle", "roc_auc"]
    lab = result.lineage
    body = [
        f"Command: `.venv/bin/python -m benchmarks.models --accounts {args.accounts} --months {args.months} "
        f"--seed {args.seed}` (measured {dt.date.today()}, {machine()}; {time.perf_counter() - t0:.0f} s).", "",
        f"Data: simulator {args.accounts:,} accounts × {args.months} months (the demo's world); "
        f"{lab['labelled_rows']:,} labelled rows, {lab['accounts']:,} accounts; 90-day contractual horizon, "
        f"14-day grace. Layout: {result.layout.reason if result.layout else '—'}.", "",
        *table(result), "",
        f"- LightGBM / oracle ROC-AUC = {ratio:.3f}. The oracle is the simulator's own day-level hazard given each "
        "account's true health path (`churnml.simulate.oracle`); the model not beating it beyond noise is "
        "checked by `tests/model/training/test_train_simulated.py`.",
        *[f"- ROC-AUC: {v}" for v in result.verdicts("roc_auc")],
        *[f"- log loss: {v}" for v in result.verdicts("log_loss")],
    ]
    update_section("Models", "\n".join(body))
    print("\n".join(body))
    return 0


__all__ = ["main", "table"]

if __name__ == "__main__":
    raise SystemExit(main())
