"""`make demo`: the main job end to end on embedded defaults.

simulate → validate → features → labels → train (backtest vs baselines and the simulator's oracle) →
log to MLflow → register → promote → score and explain every account, printing a readable summary at each step.
Run: `python -m pipelines.demo [--config FILE]`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from churnml.cli.app import churn_rate_table, print_training
from churnml.cli.render import validation_table
from churnml.config import Settings, load_settings
from churnml.data.load import load_data
from churnml.features import feature_set
from churnml.simulate import simulate_world
from churnml.training.frames import churn_rate_by_date, training_dates, write_features, write_labels

console = Console()


def _simulated_already(data_dir: Path, settings: Settings) -> bool:
    """Reuse a simulated world only if it was made with the same parameters."""
    params = data_dir / "truth" / "params.json"
    if not params.exists():
        return False
    try:
        got = json.loads(params.read_text())
    except json.JSONDecodeError:
        return False
    s = settings.simulate
    want = {"accounts": s.accounts, "start": s.start, "months": s.months, "seed": s.seed}
    return all(str(got.get(k)) == str(v) for k, v in want.items())


def simulate_step(settings: Settings) -> Path:
    data_dir = settings.data.dir
    s = settings.simulate
    if _simulated_already(data_dir, settings):
        console.print(f"simulated world already in {data_dir} (same parameters) — reusing it")
        return data_dir
    from churnml.plays.weekly import sim_plays

    summary = simulate_world(
        out=data_dir, accounts=s.accounts, start=dt.date.fromisoformat(s.start), months=s.months, seed=s.seed,
        plays=sim_plays(settings),
    )
    console.print(
        f"{summary.accounts:,} accounts, {summary.events:,} events, {summary.tickets:,} tickets, "
        f"{summary.survey_responses:,} survey answers; monthly logo churn {summary.monthly_churn_rate:.1%} "
        f"({summary.seconds:.1f}s)"
    )
    return data_dir


def features_step(settings: Settings) -> tuple[pd.DataFrame, int, dict[str, int]]:
    t0 = time.perf_counter()
    loaded = load_data(settings)
    console.print(validation_table(loaded.report))
    dates = training_dates(loaded.tables, settings.features.every_days, settings.labels.horizon_days,
                           settings.features.history())
    fs = feature_set(loaded.tables, dates, settings.labels, features=settings.features)
    work = settings.work_dir
    with console.status(f"computing {len(fs.specs)} features for {len(dates)} weekly as-of dates…"):
        rows = write_features(fs, work / "features.parquet")
        labels = write_labels(loaded.tables, fs, settings, work / "labels.parquet")
    themes: dict[str, int] = {}
    for spec in fs.specs:
        themes[spec.theme] = themes.get(spec.theme, 0) + 1
    console.print(
        f"{rows:,} (account, as-of) rows × {len(fs.specs)} features written to {work / 'features.parquet'} "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return labels, len(fs.specs), themes


def summary(labels: pd.DataFrame, n_features: int, themes: dict[str, int]) -> None:
    rates = churn_rate_by_date(labels)
    # Every 4th as-of date keeps the table readable; the last ones show the unobserved horizon.
    shown = pd.concat([rates.iloc[::4], rates.tail(1)]).drop_duplicates("as_of")
    console.print(churn_rate_table(shown))
    t = Table(title="Summary", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    labelled = labels["churned"].notna()
    t.add_row("accounts", f"{labels['account_id'].nunique():,}")
    t.add_row("as-of dates", f"{labels['as_of'].nunique()} ({labels['as_of'].min().date()} → "
                             f"{labels['as_of'].max().date()}, weekly)")
    t.add_row("rows (labelled)", f"{len(labels):,} ({int(labelled.sum()):,})")
    t.add_row("churn rate (90-day horizon)", f"{labels.loc[labelled, 'churned'].mean():.1%}")
    t.add_row("features", f"{n_features} — " + ", ".join(f"{k} {v}" for k, v in sorted(themes.items())))
    console.print(t)


def train_step(settings: Settings) -> None:
    from churnml.training.job import train_and_register

    with console.status("backtesting LightGBM against baselines and training the final model…"):
        outcome = train_and_register(settings, report_json=settings.work_dir / "backtest.json")
    print_training(outcome, settings.registry.name)
    console.print(
        f"see the run and its plots: .venv/bin/mlflow ui --backend-store-uri sqlite:///{settings.work_dir}/mlflow.db"
    )


#: Weekly scorings the demo stores, ending at the end of the data: enough history for the page's "what changed
#: this week", score history and signal sparklines.
SCORED_WEEKS = 4


def scoring_dates(end: dt.date, every_days: int, weeks: int = SCORED_WEEKS) -> list[dt.date]:
    """`weeks` as-of dates `every_days` apart ending at `end`, oldest first (the order they must be scored in:
    each scoring's change is measured against the one before)."""
    return [end - dt.timedelta(days=every_days * k) for k in range(weeks - 1, -1, -1)]


def score_step(settings: Settings) -> None:
    """Score every active account at the last few weekly as-of dates, oldest first, and print the 10 most at
    risk at the end of the data with their reasons and what changed since the week before."""
    from churnml.data.dates import default_as_of
    from churnml.data.load import load_data
    from churnml.features import to_frame
    from churnml.scoring.job import run_scoring
    from churnml.scoring.table import top_reasons

    loaded = load_data(settings)
    dates = scoring_dates(default_as_of(loaded.tables), settings.features.every_days)
    as_of = dates[-1]
    with console.status(f"computing features at {len(dates)} weekly as-of dates…"):
        frame = to_frame(feature_set(loaded.tables, dates, settings.labels))
    day = pd.to_datetime(frame["as_of"]).dt.date
    for d in dates:
        with console.status(f"scoring and explaining every active account at {d}…"):
            run = run_scoring(settings, d, loaded=loaded, features=frame[day == d].reset_index(drop=True))
        moved = run.scores["change_points"].abs()
        console.print(f"scored {len(run.scores):,} accounts at {d}"
                      + (f"; {int((moved >= 5).sum()):,} moved 5 points or more since the week before"
                         if moved.notna().any() else " (first scoring: nothing to compare with)"))
    scores = run.scores.sort_values("churn_probability", ascending=False).head(10)
    t = Table(title=f"Top 10 accounts at risk on {as_of} (model {run.model_uri})", title_justify="left")
    for col, just in (("account", "left"), ("risk", "right"), ("MRR at risk", "right"), ("why", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for row in scores.to_dict(orient="records"):
        reasons = "\n".join(f"• {r['sentence']}" for r in top_reasons(row)[:3])
        change = row.get("change_text") if isinstance(row.get("change_text"), str) else "first scoring"
        t.add_row(str(row.get("account_name") or row["account_id"]),
                  f"{row['churn_probability']:.0%} ({row['risk_band']})", f"${row['mrr_at_risk']:,.0f}",
                  f"{reasons}\n[dim]since last week: {change}[/]")
    console.print(t)
    console.print(f"{len(run.scores):,} accounts scored at {as_of}, the last of {len(dates)} weekly scorings stored in "
                  f"{run.store}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = Path(argv[argv.index("--config") + 1]) if "--config" in argv else None
    settings = load_settings(config)
    t0 = time.perf_counter()
    console.print(Rule("1 · simulate"))
    simulate_step(settings)
    console.print(Rule("2 · validate → features → labels"))
    labels, n_features, themes = features_step(settings)
    console.print(Rule("summary"))
    summary(labels, n_features, themes)
    console.print(Rule("3 · train → backtest → MLflow → registry"))
    train_step(settings)
    console.print(Rule("4 · score → explain"))
    score_step(settings)
    console.print(Rule("5 · weekly job (retrain → promote if better → score → drift → push to a local webhook)"))
    from churnml.cli.retrain import run_retrain
    from churnml.jobs.state import RetrainError

    try:
        run_retrain(settings, force=True, local_webhook=True)
    except RetrainError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 1
    console.print(Rule("6 · revenue retention forecast and model health"))
    from churnml.cli.forecast import forecast_step

    forecast_step(settings, console)
    console.print(Rule("7 · alerts and plays (which plays work: the holdout)"))
    from churnml.plays.weekly import demo_plays

    demo_plays(settings, console)
    console.print(f"[green]demo finished in {time.perf_counter() - t0:.0f}s[/]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
