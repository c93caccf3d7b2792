"""Outside worlds: churnml's own pipeline on event data nobody on this project wrote, against the sceptic's baselines.

For each world in `../shared/data/outside/` (today: fightchurn_socialnet7, see its README): cut-off dates T;
train with the product's pipeline and default config (only the label kind, horizon and grace set) on the rows
whose labels are known before T; score the customers active at T; label them from the data after T; in the same
run fit the sceptic's baselines (days since last activity, RFM logistic, logistic on all features, health
score) on the same rows. Every figure carries a 95% interval from a bootstrap over accounts, paired across
models on the same customers. Writes the "Outside data" section of docs/benchmarks.md.

Two tables per world: the README's own dates (the comparison with the peer's figures), and, apart, more monthly
cut-offs pooled (each one a model trained before it), whose intervals are tighter. No choice was made on the
README's dates; the default per-event-type selection was compared on the four earlier monthly cut-offs
(docs/features.md, "Why top 10"), so those four are not a clean test of it. The configuration is
`configs/default.yaml` with only the label definition set from the world's README: no world-specific features.

    .venv/bin/python -m benchmarks.outside_data [--outside ../shared/data/outside] [--work work/bench/outside]

Point in time: features at a date only see rows before it, and a training row's label is used only when its
horizon and grace period had passed by T, so one feature frame over all dates serves every cut-off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import machine, update_section
from churnml.config import DataConfig, LabelsConfig, Settings, load_settings
from churnml.data.load import load_data
from churnml.features.event_types import is_per_type
from churnml.features.pipeline import FeatureSet
from churnml.importer.report import ImportReport
from churnml.importer.run import import_data
from churnml.training.backtest import LABEL, fit_on_fold, fold_parts
from churnml.training.bootstrap import backtest_intervals
from churnml.training.frames import build_training_frame, training_dates
from churnml.training.job import train_config
from churnml.training.layout import LayoutError
from churnml.training.train import MODEL_NAME, baseline_factories, fit_final


@dataclass(frozen=True)
class World:
    """One outside world and how its README defines churn and the comparison."""

    name: str
    cutoffs: tuple[dt.date, ...]
    monthly: tuple[dt.date, ...]  # more cut-offs, pooled in a table of their own
    labels: LabelsConfig
    min_tenure_days: int
    peer: tuple[tuple[str, str], ...]  # (method, ROC-AUC as the README gives it)


FIGHTCHURN = World(
    name="fightchurn_socialnet7",
    cutoffs=(dt.date(2021, 1, 4), dt.date(2021, 2, 1)),
    # The first Monday of each month whose 28-day horizon the data covers, from when a model can be fitted.
    monthly=(dt.date(2020, 9, 7), dt.date(2020, 10, 5), dt.date(2020, 11, 2), dt.date(2020, 12, 7),
             dt.date(2021, 1, 4), dt.date(2021, 2, 1)),
    labels=LabelsConfig(kind="contractual", horizon_days=28, grace_days=7),
    min_tenure_days=14,
    peer=(("fight-churn's own pipeline: its metrics + L1 logistic regression", "0.569 (0.51–0.64)"),
          ("fight-churn's own pipeline: its metrics + XGBoost", "0.582 (0.51–0.65)"),
          ("fewer events in the last 28 days", "0.564"),
          ("days since the last event", "0.492")),
)


MAPPINGS = Path(__file__).resolve().parent.parent / "configs" / "examples"


def import_world(src: Path, out: Path, name: str) -> tuple[Path, ImportReport]:
    """The world brought in the way a user would: `churnml import` with its mapping in configs/examples/."""
    shutil.rmtree(out, ignore_errors=True)
    report = import_data(src, MAPPINGS / f"{name}.yaml", out)
    return out, report


def first_start(data: Path) -> pd.Series:
    """First subscription start per account (tenure is counted from it)."""
    subs = pd.read_parquet(data / "subscriptions.parquet", columns=["account_id", "start_date"])
    return pd.to_datetime(subs.groupby("account_id")["start_date"].min())


def evaluate_cutoff(frame: pd.DataFrame, settings: Settings, cutoff: dt.date, starts: pd.Series,
                    world: World, fold: int) -> tuple[pd.DataFrame, str]:
    """Train before `cutoff`, score the tenured customers at it; long predictions of every model and the layout.

    churnml's model is the one `churnml train` ships (`fit_final`: same layout, features and fit; its backtest,
    unused here, is skipped); each baseline is fitted on that model's final training rows.
    """
    t = pd.Timestamp(cutoff)
    gap = pd.Timedelta(days=world.labels.horizon_days + world.labels.grace_days)
    before = frame[frame["as_of"] < t].copy()
    before.loc[before["as_of"] + gap > t, LABEL] = pd.NA  # outcome not yet known at the cut-off
    cfg = train_config(settings).model_copy(update={"figures": False})
    model, layout, labelled = fit_final(before, cfg)
    at = frame[(frame["as_of"] == t) & frame[LABEL].notna()]
    tenure = (t - at["account_id"].map(starts)).dt.days
    at = at[tenure >= world.min_tenure_days]
    baselines, _ = baseline_factories(cfg, model.feature_names_, list(labelled.columns))
    scored = {MODEL_NAME: model.predict_proba(at)[:, 1]}
    for k in OTHER_SEEDS:  # the same model and data, another random seed (bagging, feature sampling)
        again, _, _ = fit_final(before, cfg.model_copy(update={"seed": cfg.seed + k}))
        scored[_seeded(k)] = again.predict_proba(at)[:, 1]
    parts = fold_parts(labelled, layout.final)
    for name, factory in baselines.items():
        scored[name] = fit_on_fold(factory(), parts).predict_proba(at)[:, 1]
    base = pd.DataFrame({"fold": fold, "account_id": at["account_id"].to_numpy(), "as_of": at["as_of"].to_numpy(),
                         "y": at[LABEL].astype(int).to_numpy(), "mrr": at["mrr"].to_numpy(dtype=float)})
    rows = [base.assign(model=m, p=p) for m, p in scored.items()]
    return pd.concat(rows, ignore_index=True), layout.reason


#: The churnml model is fitted again at every cut-off with the configured seed plus each of these: the spread of
#: its ROC-AUC over seeds is the model's own noise, not evidence about the data.
OTHER_SEEDS = (1, 2)


def _seeded(k: int) -> str:
    return f"{MODEL_NAME} seed+{k}"


def seed_spread(pred: pd.DataFrame, iv: object) -> str:
    """One sentence: churnml's ROC-AUC under each seed and their spread."""
    m = iv.metrics.set_index(["model", "metric"])  # type: ignore[attr-defined]
    names = [MODEL_NAME, *[_seeded(k) for k in OTHER_SEEDS]]
    aucs = [float(m.loc[(name, "roc_auc"), "value"]) for name in names if name in set(pred["model"])]
    return (f"churnml's own ROC-AUC under the configured seed and the next {len(aucs) - 1} (same configuration "
            f"and data): {', '.join(f'{a:.3f}' for a in aucs)}, a spread of {max(aucs) - min(aucs):.3f}: a gap "
            "between models smaller than that is the model's own noise.")


def world_settings(world: World, work: Path, data: Path) -> Settings:
    """`configs/default.yaml` (the product's default) with only the world's label definition and paths set."""
    return load_settings().model_copy(update={"work_dir": work / world.name / "work", "data": DataConfig(dir=data),
                                              "labels": world.labels})


def pooled(frame: pd.DataFrame, settings: Settings, cutoffs: tuple[dt.date, ...], starts: pd.Series,
           world: World) -> tuple[pd.DataFrame, list[str]]:
    """Every cut-off evaluated (a cut-off with too little labelled history for one honest fold is named, skipped)."""
    preds, layouts = [], []
    for k, cutoff in enumerate(cutoffs):
        try:
            p, reason = evaluate_cutoff(frame, settings, cutoff, starts, world, k)
        except LayoutError as exc:
            layouts.append(f"{cutoff}: skipped, {exc}")
            continue
        preds.append(p)
        layouts.append(f"{cutoff}: {reason}")
    return pd.concat(preds, ignore_index=True), layouts


@dataclass(frozen=True)
class WorldFrame:
    """One outside world brought in, and one point-in-time feature frame over its weekly dates and cut-offs."""

    data: Path
    imported: ImportReport
    settings: Settings
    frame: pd.DataFrame
    fs: FeatureSet


def world_frame(world: World, outside: Path, work: Path, cutoffs: Iterable[dt.date]) -> WorldFrame:
    """Import `world` with its mapping, then features at every weekly training date before the last cut-off
    and at the cut-offs themselves, labelled with what the data shows after them."""
    data, imported = import_world(outside / world.name, work / world.name / "data", world.name)
    settings = world_settings(world, work, data)
    loaded = load_data(settings, data)
    cuts = set(cutoffs)
    last = max(cuts)
    dates = sorted({d for d in training_dates(loaded.tables, settings.features.every_days,
                                              world.labels.horizon_days, settings.features.history())
                    if d < last} | cuts)
    # Labels of the cut-off rows are read from the data after them; the data ends on 2021-03-01, so a re-signup
    # in the grace week after it cannot be seen (as for the peer's own figures).
    until = last + dt.timedelta(days=world.labels.horizon_days + world.labels.grace_days)
    frame, fs = build_training_frame(loaded.tables, dates, world.labels, until=until, features=settings.features)
    return WorldFrame(data, imported, settings, frame, fs)


def run_world(world: World, outside: Path, work: Path) -> dict[str, object]:
    """Convert, validate, build one point-in-time frame, evaluate every cut-off; the numbers for the tables."""
    t0 = time.perf_counter()
    wf = world_frame(world, outside, work, {*world.cutoffs, *world.monthly})
    data, imported, settings, frame, fs = wf.data, wf.imported, wf.settings, wf.frame, wf.fs
    events = imported.tables["events"]
    quarantined = sum(t.rows_rejected for t in imported.tables.values())
    t_frame = time.perf_counter() - t0
    starts = first_start(data)
    pred, layouts = pooled(frame, settings, world.cutoffs, starts, world)
    iv = backtest_intervals(pred, MODEL_NAME, n_boot=1000, seed=0)
    monthly, monthly_layouts = pooled(frame, settings, world.monthly, starts, world)
    return {"world": world, "pred": pred, "intervals": iv, "layouts": layouts, "features": len(fs.specs),
            "per_type": sum(is_per_type(s.name) for s in fs.specs),
            "select": settings.features.event_types.select,
            "monthly": monthly, "monthly_intervals": backtest_intervals(monthly, MODEL_NAME, n_boot=1000, seed=0),
            "monthly_layouts": monthly_layouts, "quarantined": quarantined, "events": events.rows_written,
            "repeat_warnings": events.warnings, "frame_rows": len(frame), "seconds": time.perf_counter() - t0,
            "frame_seconds": t_frame}


NAMES = {"lightgbm": "churnml (LightGBM, default config)", "recency": "days since last activity alone",
         "rfm": "recency-frequency-monetary logistic", "logistic": "logistic regression on all features",
         "health_score": "hand-weighted health score"}


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.3f}"


def model_table(pred: pd.DataFrame, iv: object) -> list[str]:
    """Markdown rows: every model's ROC-AUC and PR-AUC with intervals, and churnml against it, paired."""
    m = iv.metrics.set_index(["model", "metric"])  # type: ignore[attr-defined]
    d = iv.differences.set_index(["versus", "metric"])  # type: ignore[attr-defined]
    lines = ["| model (trained before each cut-off) | ROC-AUC (95%) | PR-AUC (95%) | ROC-AUC vs churnml (paired) |",
             "|---|---|---|---|"]
    for model in pd.unique(pred["model"]):
        auc, pr = m.loc[(model, "roc_auc")], m.loc[(model, "pr_auc")]
        verdict = str(d.loc[(model, "roc_auc"), "verdict"]).replace(f"{MODEL_NAME} seed", "seed")
        vs = "—" if model == MODEL_NAME else f"churnml {verdict}"
        name = NAMES.get(model, model.replace(MODEL_NAME, "churnml, same config,"))
        lines.append(f"| {name} | {_fmt(auc['value'])} ({_fmt(auc['lo'])}–{_fmt(auc['hi'])}) | "
                     f"{_fmt(pr['value'])} ({_fmt(pr['lo'])}–{_fmt(pr['hi'])}) | {vs} |")
    return lines


def _population(pred: pd.DataFrame) -> str:
    main = pred[pred["model"] == MODEL_NAME]
    return (f"{len(main):,} customer-dates, {int(main['y'].sum())} churners, "
            f"{main['account_id'].nunique():,} accounts")


def render(r: dict[str, object], command: str) -> str:
    """Markdown for one world."""
    world: World = r["world"]  # type: ignore[assignment]
    pred: pd.DataFrame = r["pred"]  # type: ignore[assignment]
    monthly: pd.DataFrame = r["monthly"]  # type: ignore[assignment]
    lines = [
        f"### {world.name}", "",
        f"Command: `{command}` (measured {dt.date.today()}, {machine()}; shared cores, times rough).", "",
        f"Default configuration (`configs/default.yaml`, per-event-type features `select: {r['select']}`), only the "
        f"label definition set from the world's README: {world.labels.kind} churn within "
        f"{world.labels.horizon_days} days, {world.labels.grace_days}-day grace (re-signup bridges a lapse). "
        f"{r['features']} features ({r['per_type']} of them per event type), {r['frame_rows']:,} rows; "
        f"{r['events']:,} events imported, {r['quarantined']:,} rows rejected (strict validation; repeated events "
        f"are kept as the log they are); {r['seconds']:.0f} s in all ({r['frame_seconds']:.0f} s import + "
        "features). Customers active at a cut-off with tenure ≥ "
        f"{world.min_tenure_days} days are scored; each cut-off has its own model, trained on the labels known "
        "before it.", "",
        f"**The README's dates** ({', '.join(str(c) for c in world.cutoffs)} pooled; {_population(pred)}):", "",
        *model_table(pred, r["intervals"]), "", seed_spread(pred, r["intervals"]), "",
        "The peer's own figures (fight-churn README; whole world, both halves, so not the same customers:"
        " compare intervals, no pairing possible):", "", "| peer method | ROC-AUC |", "|---|---|",
        *[f"| {name} | {auc} |" for name, auc in world.peer], "",
        f"**More cut-offs, pooled** (monthly, {', '.join(str(c) for c in world.monthly)}; {_population(monthly)}; "
        "an account counts once per cut-off, the bootstrap resamples accounts):", "",
        *model_table(monthly, r["monthly_intervals"]), "", seed_spread(monthly, r["monthly_intervals"]), "",
        "Layout chosen at each cut-off:", "",
        *[f"- {s}" for s in r["monthly_layouts"]],  # type: ignore[attr-defined]
        "", f"Data brought in with `churnml import` and `configs/examples/{world.name}.yaml`.",
    ]
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
