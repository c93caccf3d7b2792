"""`churnml train-snapshot`: evaluate and train on an imported tabular snapshot, log to MLflow, register.

Thin: parse, call `churnml.training.tabular.train_and_register_snapshot`, print the metrics. Registered by
`churnml.cli.app` as `app.command(name="train-snapshot")(train_snapshot_command)`.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from churnml.cli.errors import user_errors
from churnml.cli.options import ConfigOpt

console = Console()


class Evaluation(StrEnum):
    """How held-out rows are chosen (a snapshot has no time axis)."""

    cv = "cv"
    holdout = "holdout"
    split = "split"


def train_snapshot_command(
    data: Annotated[Path, typer.Option("--data", help="Import folder (or its snapshot.parquet).")],
    evaluation: Annotated[Evaluation, typer.Option(help="cv: stratified k-fold; holdout: stratified "
                                                   "--test-size; split: the data's own split column.")]
    = Evaluation.cv,
    folds: Annotated[int, typer.Option(min=2, help="Folds for cv.")] = 5,
    test_size: Annotated[float, typer.Option(min=0.01, max=0.99, help="Hold-out share.")] = 0.2,
    name: Annotated[str | None, typer.Option(help="Registered model name (default <registry.name>-snapshot).")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed for splits and model.")] = 0,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Attribute not used as a feature "
                                                      "(repeat the option for more).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Train on a tabular snapshot (one row per customer, churned as given): evaluate, log, register."""
    from churnml.config import load_settings
    from churnml.training.tabular import SnapshotConfig, train_and_register_snapshot

    t0 = time.perf_counter()
    with user_errors():
        settings = load_settings(config)
        cfg = SnapshotConfig(evaluation=evaluation.value, folds=folds, test_size=test_size, seed=seed,
                             exclude=list(exclude or []))
        with console.status("evaluating and training on the snapshot…", spinner="dots"):
            outcome = train_and_register_snapshot(settings, data, cfg, name=name)
    table = Table(title=f"Held-out metrics ({evaluation.value})", title_justify="left")
    level = f"{outcome.result.config.interval_level:.0%}"
    for col in ("model", f"ROC-AUC ({level})", "folds: mean ± std", f"PR-AUC ({level})", f"log loss ({level})",
                f"Brier ({level})", "lift@10%"):
        table.add_column(col, justify="left" if col == "model" else "right")
    summary = outcome.result.metrics["summary"].set_index("model")

    def cell(row: object, metric: str) -> str:
        v, lo, hi = (getattr(row, f"{metric}{s}") for s in ("", "_lo", "_hi"))
        return f"{v:.3f} ({lo:.3f}–{hi:.3f})"

    for row in outcome.result.metrics["overall"].itertuples():
        s = summary.loc[row.model]
        table.add_row(str(row.model), cell(row, "roc_auc"), f"{s.roc_auc_mean:.3f} ± {s.roc_auc_std:.3f}",
                      cell(row, "pr_auc"), cell(row, "log_loss"), cell(row, "brier"), f"{row.lift_top10:.2f}")
    console.print(table)
    for line in outcome.result.verdicts("roc_auc") + outcome.result.verdicts("log_loss"):
        console.print(f"  {line}", highlight=False)
    verdict = "[green]promoted to champion[/]" if outcome.promoted else "[yellow]stays challenger[/]"
    console.print(f"registered {outcome.model_name} v{outcome.version}: {verdict} — {outcome.reason}")
    console.print(f"MLflow run {outcome.run_id}; {outcome.result.lineage['rows']:,} rows; "
                  f"{time.perf_counter() - t0:.0f}s", highlight=False)


def score_snapshot_command(
    data: Annotated[Path, typer.Option("--data", help="Import folder (or its snapshot.parquet) of customers.")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Date the scores are stored under (default: today in UTC).")] = None,
    name: Annotated[str | None, typer.Option(help="Registered model name (default <registry.name>-snapshot).")]
    = None,
    alias: Annotated[str | None, typer.Option(help="Registry alias (default: scoring.alias, champion).")] = None,
    include_churned: Annotated[bool, typer.Option("--include-churned", help="Also score rows marked churned.")]
    = False,
    mrr: Annotated[str | None, typer.Option("--mrr", help="Attribute holding monthly revenue (for MRR at risk) "
                                            "when the snapshot has no mrr column.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Score and explain a snapshot's customers with the snapshot model; store them like event-log scores."""
    from churnml.cli.errors import parse_date
    from churnml.cli.score import print_run
    from churnml.config import load_settings
    from churnml.scoring.tabular import score_snapshot

    day = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        with console.status("scoring and explaining the snapshot's customers…", spinner="dots"):
            run = score_snapshot(settings, data, as_of=day, name=name, alias=alias, include_churned=include_churned,
                                 mrr_column=mrr)
    print_run(run)
