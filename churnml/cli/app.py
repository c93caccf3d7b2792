"""The `churnml` command line (typer + rich). Thin: parse, call the library, print.

Errors a user can fix (bad input data, bad dates, missing files) are printed as one clear message with
exit code 1 — never a stack trace. Set CHURNML_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from churnml.cli.errors import parse_date, user_errors
from churnml.cli.forecast import forecast_command, train_outcomes_command
from churnml.cli.help import Group
from churnml.cli.import_ import import_command
from churnml.cli.models import models_app
from churnml.cli.options import ConfigOpt, DataOpt, Engine
from churnml.cli.push import push_command
from churnml.cli.report import report_command
from churnml.cli.retrain import retrain_command
from churnml.cli.score import score_command
from churnml.cli.serve import apikey_app, serve_command
from churnml.cli.tables import backtest_table
from churnml.cli.tabular import score_snapshot_command, train_snapshot_command

if TYPE_CHECKING:
    from churnml.config import Settings

app = typer.Typer(
    name="churnml",
    help="Explained, calibrated churn-risk scores for Customer Success teams.",
    no_args_is_help=True,
    rich_markup_mode=None,  # click's plain help: no `<bool>` on flags, choices never folded mid-word
    cls=Group,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


def _version(value: bool) -> None:
    if value:
        from churnml import __version__

        typer.echo(f"churnml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Explained, calibrated churn-risk scores for Customer Success teams."""

def _settings(config: Path | None) -> Settings:
    from churnml.config import load_settings  # pydantic models, numpy, pandas: not at `churnml --help`

    with user_errors():
        return load_settings(config)


def _kv_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows.items():
        table.add_row(k.replace("_", " "), f"{v:,.4g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int)
                      else str(v))
    return table


def _date(value: str | None, name: str) -> dt.date | None:
    return None if value is None else parse_date(value, name)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("work/data"),
    accounts: Annotated[int | None, typer.Option(min=1, help="Number of accounts (default: simulate.accounts, "
                                                 "2000).")] = None,
    start: Annotated[str | None, typer.Option(help="First day simulated, YYYY-MM-DD (default: simulate.start).")]
    = None,
    months: Annotated[int | None, typer.Option(min=1, max=120, help="Months simulated (default: simulate.months, "
                                               "24).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed, same seed same world (default: simulate.seed).")]
    = None,
    config: ConfigOpt = None,
) -> None:
    """Simulate a realistic B2B SaaS customer base (with its true churn probabilities in truth/)."""
    from churnml.simulate import simulate_world

    s = _settings(config).simulate
    start_date = _date(start, "--start") or dt.date.fromisoformat(s.start)
    with user_errors():
        summary = simulate_world(
            out=out,
            accounts=accounts or s.accounts,
            start=start_date,
            months=months or s.months,
            seed=s.seed if seed is None else seed,
        )
    console.print(_kv_table(f"Simulated world in {out}", dataclasses.asdict(summary)))


@app.command()
def validate(
    data: DataOpt = None,
    lenient: Annotated[bool, typer.Option(help="Quarantine bad rows instead of failing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Validate the input tables against the data contract (docs/data-contract.md)."""
    from churnml.cli.render import validation_table
    from churnml.data.load import load_data

    settings = _settings(config)
    with user_errors():
        loaded = load_data(settings, data, lenient=lenient or None)
    console.print(validation_table(loaded.report))
    if loaded.report.total_rejected:
        console.print(
            f"[yellow]{loaded.report.total_rejected:,} rows quarantined to {loaded.report.rejects_dir}[/]"
        )
    else:
        console.print("[green]all tables valid[/]")


def _status(message: str) -> Callable[[], Any]:
    return console.status(message, spinner="dots")


def labels_path_for(features_out: Path) -> Path:
    """Where labels go beside a features file: features.parquet -> labels.parquet, x.parquet -> x.labels.parquet."""
    stem = features_out.stem
    name = stem.replace("features", "labels") if "features" in stem else f"{stem}.labels"
    return features_out.with_name(f"{name}.parquet")


@app.command()
def features(
    data: DataOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="DATE[,DATE...]")] = None,
    every: Annotated[str | None, typer.Option(help="Spacing of as-of dates, e.g. 7d.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First as-of date with --every.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last as-of date with --every.")] = None,
    out: Annotated[Path, typer.Option(help="Output Parquet file.")] = Path("work/features.parquet"),
    labels: Annotated[bool, typer.Option(help="Also write labels beside the features.")] = True,
    lenient: Annotated[bool, typer.Option(help="Quarantine bad rows instead of failing.")] = False,
    engine: Annotated[
        Engine | None,
        typer.Option(help="Default: features.engine (duckdb). Spark writes --out as a folder partitioned by as_of."),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(help="Compute just these features, NAME[,NAME...] (see docs/features.md); default all."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Point-in-time features for every account active at each as-of date (and their labels)."""
    from churnml.cli.options import resolve_dates
    from churnml.data.load import load_data
    from churnml.features import feature_set
    from churnml.training.frames import churn_rate_by_date, write_features
    from churnml.training.frames import write_labels as _write_labels

    settings = _settings(config)
    if engine is not None:
        settings.features.engine = engine.value
    if settings.features.engine == "spark":
        from churnml.data.spark import write_features_spark as write_features
    t0 = time.perf_counter()
    with user_errors():
        dates = resolve_dates(as_of, every, start, end)
        with _status("validating input tables…"):
            loaded = load_data(settings, data, lenient=lenient or None)
        names = [n.strip() for n in only.split(",") if n.strip()] if only else None
        fs = feature_set(loaded.tables, dates, settings.labels, only=names, features=settings.features)
        with _status(f"computing {len(fs.specs)} features for {len(dates)} as-of dates…"):
            rows = write_features(fs, out)
        summary: dict[str, Any] = {
            "rows": rows,
            "as_of_dates": len(dates),
            "features": len(fs.specs),
            "output": str(out),
        }
        if labels:
            label_path = labels_path_for(out)
            with _status("computing labels…"):
                lab = _write_labels(loaded.tables, fs, settings, label_path)
            summary["labels"] = str(label_path)
            rates = churn_rate_by_date(lab)
            summary["labelled_rows"] = int(rates["labelled"].sum())
            summary["churn_rate"] = float(rates["churned"].sum() / max(rates["labelled"].sum(), 1))
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    console.print(_kv_table("Features", summary))


@app.command(name="labels")
def labels_cmd(
    data: DataOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="DATE[,DATE...]")] = None,
    every: Annotated[str | None, typer.Option(help="Spacing of as-of dates, e.g. 7d.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First as-of date with --every.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last as-of date with --every.")] = None,
    out: Annotated[Path, typer.Option(help="Output Parquet file.")] = Path("work/labels.parquet"),
    config: ConfigOpt = None,
) -> None:
    """Churn labels (configured definition and horizon) for the accounts active at each as-of date."""
    from churnml.cli.options import resolve_dates
    from churnml.data.load import load_data
    from churnml.features import feature_set
    from churnml.training.frames import churn_rate_by_date, write_labels

    settings = _settings(config)
    with user_errors():
        dates = resolve_dates(as_of, every, start, end)
        loaded = load_data(settings, data)
        fs = feature_set(loaded.tables, dates, settings.labels, features=settings.features)
        lab = write_labels(loaded.tables, fs, settings, out)
    console.print(churn_rate_table(churn_rate_by_date(lab)))
    console.print(f"labels written to {out}")


@app.command()
def train(
    data: DataOpt = None,
    tune: Annotated[int | None, typer.Option(min=0, help="Optuna trials on the backtest, 0 = none "
                                                         "(default: models.tune, 0).")] = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Write backtest metrics as JSON.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Train LightGBM on weekly snapshots, backtest it against baselines, log to MLflow, register, promote."""
    from churnml.training.job import train_and_register

    settings = _settings(config)
    t0 = time.perf_counter()
    with user_errors(), _status("building snapshots, backtesting and training (a few minutes)…"):
        outcome = train_and_register(settings, data, tune=tune, report_json=report_json)
    print_training(outcome, settings.registry.name)
    console.print(f"MLflow run {outcome.run.run_id}; {outcome.labelled_rows:,} labelled rows of {outcome.rows:,}; "
                  f"{time.perf_counter() - t0:.0f}s")


def print_training(outcome: Any, name: str) -> None:
    """What a training run shows (`churnml train` and the demo): the fold layout and why, the backtest table with
    intervals, the plain-words verdict against each baseline, and the promotion decision."""
    if outcome.result.layout:
        console.print(f"layout: {outcome.result.layout.reason}", highlight=False)
    console.print(backtest_table(outcome.result.metrics["overall"], console))
    for line in outcome.result.verdicts("roc_auc"):
        console.print(f"ROC-AUC: {line}", highlight=False)
    verdict = "[green]promoted to champion[/]" if outcome.decision.promote else "[yellow]stays challenger[/]"
    console.print(f"registered {name} v{outcome.version}: {verdict} — {escape(outcome.decision.reason)}")


def churn_rate_table(rates: Any) -> Table:
    """Churn rate per as-of date as a rich table."""
    table = Table(title="Churn rate by as-of date", title_justify="left")
    for col in ("as-of", "accounts", "labelled", "churned", "churn rate"):
        table.add_column(col, justify="right")
    for row in rates.itertuples():
        rate = "—" if row.labelled == 0 else f"{row.churn_rate:.1%}"
        table.add_row(str(row.as_of.date()), f"{row.accounts:,}", f"{row.labelled:,}", f"{int(row.churned):,}", rate)
    return table


# Commands kept in their own modules, registered after the ones above so `churnml --help` lists them in the
# order of the work: data in → features → train → models → score → serve → push → retrain → report.
app.command(name="import")(import_command)
app.command(name="train-snapshot")(train_snapshot_command)
app.command(name="score-snapshot")(score_snapshot_command)
app.add_typer(models_app)
app.command(name="score")(score_command)
app.command(name="serve")(serve_command)
app.add_typer(apikey_app)
app.command(name="push")(push_command)
app.command(name="retrain")(retrain_command)
app.command(name="forecast")(forecast_command)
app.command(name="train-outcomes")(train_outcomes_command)
app.command(name="report")(report_command)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m churnml.cli.app`
    main()
