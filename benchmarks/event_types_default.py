"""Why per-event-type features are on by default (`features.event_types.select: top 10`): with against without.

Two worlds, the same code and data, the per-type columns the only difference, paired by account:

- the simulator's demo world (`benchmarks.models`' world): the product's backtest with the default config, and on
  the same folds LightGBM without the per-type columns (an extra model of `train`);
- fightchurn_socialnet7 (`../shared/data/outside/`): models trained before four monthly cut-offs *earlier* than
  the README's dates that `benchmarks.outside_data` reports (2020-09 … 2020-12), scored at them, pooled.

Writes the "Per-event-type default" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.event_types_default [--outside ../shared/data/outside]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import pandas as pd

from benchmarks.outside_data import FIGHTCHURN, first_start, model_table, pooled, world_frame
from benchmarks.report import machine, update_section
from churnml.config import DataConfig, load_settings
from churnml.features.event_types import is_per_type
from churnml.model.model import ChurnModel, infer_features
from churnml.simulate import simulate_world
from churnml.training.bootstrap import backtest_intervals
from churnml.training.job import train_config, training_frame
from churnml.training.train import MODEL_NAME, train

WITHOUT = "lightgbm without per-type columns"
VALIDATION = (dt.date(2020, 9, 7), dt.date(2020, 10, 5), dt.date(2020, 11, 2), dt.date(2020, 12, 7))


def simulator(work: Path) -> list[str]:
    """The demo world's backtest, default config, with an extra model on the same folds without per-type columns."""
    defaults = load_settings()
    data = work / "sim" / "data"
    simulate_world(data, defaults.simulate.accounts, dt.date.fromisoformat(str(defaults.simulate.start)),
                   defaults.simulate.months, defaults.simulate.seed, progress=False)
    settings = defaults.model_copy(update={"work_dir": work / "sim" / "work", "data": DataConfig(dir=data)})
    frame, fs, _ = training_frame(settings, data)
    cfg = train_config(settings).model_copy(update={"figures": False, "baselines": []})
    per_type = [n for n in fs.names if is_per_type(n)]
    features = [f for f in infer_features(frame, ["churned", "churn_date"]) if f not in per_type]
    result = train(frame, cfg, extra_models={
        WITHOUT: lambda: ChurnModel(random_state=cfg.seed, **cfg.model, features=features)})
    m = result.metrics["overall"].set_index("model")
    cell = {k: f"{m.loc[k, 'roc_auc']:.3f} ({m.loc[k, 'roc_auc_lo']:.3f}–{m.loc[k, 'roc_auc_hi']:.3f})"
            for k in (MODEL_NAME, WITHOUT)}
    loss = {k: f"{m.loc[k, 'log_loss']:.3f}" for k in (MODEL_NAME, WITHOUT)}
    return [f"**Simulator** ({defaults.simulate.accounts:,} accounts × {defaults.simulate.months} months, 90-day "
            f"horizon; {len(per_type)} per-type columns of {len(fs.names)}; layout: {result.layout.reason}):", "",
            "| model (out-of-time folds) | ROC-AUC (95%) | log loss |", "|---|---|---|",
            f"| churnml default (`top 10`) | {cell[MODEL_NAME]} | {loss[MODEL_NAME]} |",
            f"| {WITHOUT} | {cell[WITHOUT]} | {loss[WITHOUT]} |", "",
            *[f"- {v}" for v in result.verdicts("roc_auc") + result.verdicts("log_loss")]]


def outside(src: Path, work: Path) -> list[str]:
    """fightchurn_socialnet7 at cut-offs before the reported ones: default config, with and without per-type."""
    world = FIGHTCHURN
    wf = world_frame(world, src, work, VALIDATION)
    data, settings, frame, fs = wf.data, wf.settings, wf.frame, wf.fs
    starts = first_start(data)
    per_type = [n for n in fs.names if is_per_type(n)]
    with_types, _ = pooled(frame, settings, VALIDATION, starts, world)
    plain = settings.model_copy(update={"models": {**settings.models, "exclude": per_type}})
    without, _ = pooled(frame, plain, VALIDATION, starts, world)
    without = without[without["model"] == MODEL_NAME].assign(model=WITHOUT)
    pred = pd.concat([with_types, without], ignore_index=True)
    iv = backtest_intervals(pred, MODEL_NAME, n_boot=1000, seed=0)
    main = pred[pred["model"] == MODEL_NAME]
    return [f"**fightchurn_socialnet7**, cut-offs {', '.join(str(c) for c in VALIDATION)} pooled "
            f"({len(main):,} customer-dates, {int(main['y'].sum())} churners; {len(per_type)} per-type columns of "
            f"{len(fs.names)}):", "", *model_table(pred, iv)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outside", type=Path, default=Path("../shared/data/outside"))
    ap.add_argument("--work", type=Path, default=Path("work/bench/event_types"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    body = [*simulator(args.work), "", *outside(args.outside, args.work)]
    head = [f"Command: `.venv/bin/python -m benchmarks.event_types_default --outside {args.outside}` (measured "
            f"{dt.date.today()}, {machine()}; {time.perf_counter() - t0:.0f} s). Same code and data with and without "
            "the per-event-type columns (`features.event_types.select: top 10`, the default), paired by account.",
            ""]
    update_section("Per-event-type default", "\n".join(head + body))
    print("\n".join(head + body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
