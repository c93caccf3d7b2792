"""`churnml score`: score every active account at an as-of date, store the scores, print the portfolio summary.

Thin: parse, call `churnml.scoring.job.run_scoring`, print with rich. Registered by `churnml.cli.app` as
`app.command("score")(score_command)`. Expected failures (no champion yet, bad date, bad data) are one red line
and exit code 1; CHURNML_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from churnml.cli.errors import fail, parse_date, user_errors
from churnml.cli.options import ConfigOpt, DataOpt, Engine

if TYPE_CHECKING:
    from churnml.scoring.job import ScoringRun
    from churnml.scoring.table import PortfolioSummary

console = Console()


def _money(x: float) -> str:
    return f"${x:,.0f}"


def summary_tables(summary: PortfolioSummary) -> list[Table]:
    """The portfolio summary as rich tables: bands, segments, biggest movers."""
    bands = Table(title=f"Risk bands — {summary.accounts:,} accounts scored {summary.as_of} ({summary.model})",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col, justify in (("band", "left"), ("accounts", "right"), ("MRR", "right"), ("MRR at risk", "right")):
        bands.add_column(col, justify=justify, no_wrap=True)
    colour = {"high": "red", "medium": "yellow", "low": "green"}
    for r in summary.by_band.itertuples():
        bands.add_row(f"[{colour.get(r.band, 'white')}]{r.band}[/]", f"{r.accounts:,}", _money(r.mrr),
                      _money(r.mrr_at_risk))
    bands.add_row("[bold]total[/]", f"{summary.accounts:,}", _money(summary.mrr), _money(summary.mrr_at_risk))

    segments = Table(title="MRR at risk by segment", title_justify="left", box=box.SIMPLE_HEAD)
    for col, justify in (("segment", "left"), ("accounts", "right"), ("high risk", "right"), ("MRR at risk", "right")):
        segments.add_column(col, justify=justify, no_wrap=True)
    for r in summary.by_segment.itertuples():
        segments.add_row(str(r.segment), f"{r.accounts:,}", f"{int(r.high_risk):,}", _money(r.mrr_at_risk))

    tables = [bands, segments]
    if len(summary.movers):
        movers = Table(title=f"Biggest movers (of {summary.rescored:,} accounts scored before)",
                       title_justify="left", box=box.SIMPLE_HEAD)
        for col, justify in (("account", "left"), ("risk", "right"), ("why it moved", "left")):
            movers.add_column(col, justify=justify)
        for r in summary.movers.itertuples():
            movers.add_row(str(r.account_id), f"{r.churn_probability:.0%}", str(r.change_text))
        tables.append(movers)
    return tables


def print_run(run: ScoringRun) -> None:
    for table in summary_tables(run.summary):
        console.print(table)
    if run.summary.bands:
        console.print(f"bands: {run.summary.bands}", highlight=False)
    console.print(f"scores written to {run.store} (model {run.model_uri})", highlight=False)


def score_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring date (YYYY-MM-DD); data before it is used. "
                                              "Default: the end of the data (with --account: today, UTC).")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Score just this account now from its raw "
                                                "signals (DuckDB); printed, not stored.")] = None,
    alias: Annotated[str | None, typer.Option(help="Registry alias of the model (default: champion).")] = None,
    data: DataOpt = None,
    export: Annotated[Path | None, typer.Option(help="Also write this as-of date's scores to a Parquet file.")]
    = None,
    config: ConfigOpt = None,
    engine: Annotated[Engine | None, typer.Option(
        help="duckdb, or spark (default: features.engine): spark runs features and scoring on Spark, Parquet "
        "by as_of in <work_dir>/scores_spark/ as well as the score store.")] = None,
) -> None:
    """Score every active account at an as-of date with explanations; store and summarise the scores."""
    from churnml.config import load_settings
    from churnml.scoring.job import run_scoring

    if account is not None:
        _score_one(account, as_of, alias, data, config)
        return
    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        if engine is not None:
            settings.features.engine = engine.value
        with console.status(f"scoring accounts active at {date or 'the end of the data'}", spinner="dots"):
            run = run_scoring(settings, date, alias=alias, data=data)
        if export is not None:
            from churnml.scoring.store import ScoreStore

            n = ScoreStore(run.store).export_parquet(export, as_of=run.summary.as_of)
            console.print(f"{n:,} rows exported to {export}", highlight=False)
    print_run(run)


def _score_one(account: str, as_of: str | None, alias: str | None, data: Path | None, config: Path | None) -> None:
    """`--account`: one account's fresh score (`churnml.scoring.fresh`), with its reasons and the change."""
    import json

    from churnml.config import load_settings
    from churnml.scoring.fresh import FreshScorer, NotScorable
    from churnml.scoring.job import model_for_alias
    from churnml.scoring.store import ScoreStore

    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        name = settings.registry.name
        model, version, _ = model_for_alias(settings, name, alias or settings.scoring.alias,
                                            "train and promote one first (see `churnml models list`)")
        stored = ScoreStore.from_work_dir(settings.work_dir).read()
        history = stored[stored["account_id"].astype(str) == account]
        with console.status(f"computing {account}'s features and score", spinner="dots"):
            fresh = FreshScorer(settings, data, snapshot=False)  # one query: no in-memory copy to pay for
            try:
                row = fresh.score(model, model_name=name, model_version=version, account_id=account, as_of=date,
                                  history=history)
            except NotScorable as exc:  # the API's 404: a user error, not a crash
                fail(str(exc))
    r = row.iloc[0]
    console.print(f"[bold]{account}[/] at {r['as_of']:%Y-%m-%d} ({name} v{version}): "
                  f"{r['churn_probability']:.1%} churn risk ({r['risk_band']})", highlight=False)
    console.print(f"since the last stored score: {r['change_text']}" if isinstance(r["change_text"], str)
                  else "no earlier stored score to compare with", highlight=False)
    for title, key in (("risk drivers", "risk_drivers"), ("protective factors", "protective_factors")):
        console.print(f"{title}:", highlight=False)
        for reason in json.loads(r[key]):
            console.print(f"  {reason['sentence']}", highlight=False, markup=False)
