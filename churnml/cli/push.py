"""`churnml push`: send one as-of date's stored scores to the CRM (or a file), exactly once per record.

Thin: parse, call `churnml.crm.push.push_scores`, print with rich. Registered by `churnml.cli.app` as
`app.command(name="push")(push_command)`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from churnml.cli.errors import fail, parse_date, user_errors
from churnml.cli.options import ConfigOpt

if TYPE_CHECKING:
    from churnml.crm.push import PushReport

console = Console()


class To(StrEnum):
    """Where scores go."""

    hubspot = "hubspot"
    salesforce = "salesforce"
    webhook = "webhook"
    csv = "csv"
    parquet = "parquet"


def report_table(report: PushReport) -> Table:
    """A push report as a rich table."""
    verb = "would push" if report.dry_run else "pushed"
    table = Table(title=f"{report.target} · scores of {report.as_of} · {verb}", show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = {"accounts scored": report.scored, "unchanged (skipped)": report.unchanged,
            "records to send": report.planned, "batches": report.batches,
            "resumed batches": report.resumed_batches}
    if not report.dry_run:
        rows |= {"acknowledged": report.acked, "rejected": len(report.rejected), "retries": report.retries}
    for k, v in rows.items():
        table.add_row(k, f"{v:,}")
    return table


def push_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="As-of date of the stored scores to push, YYYY-MM-DD "
                                              "(default: the latest scored date).")] = None,
    to: Annotated[To | None, typer.Option("--to", help="Target (default: crm.target).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Push every account, not only changed scores.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Push risk scores to HubSpot, Salesforce, a signed webhook, or a CSV/Parquet file."""
    from churnml.config import load_settings
    from churnml.crm.push import push_scores
    from churnml.scoring.store import ScoreStore

    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        scored = ScoreStore.from_work_dir(settings.work_dir)
        store, dates = scored.path, scored.as_of_dates()
        if date is None and not dates:
            fail(f"no scores stored in {store} yet: run `churnml score` first.")
        if date is None:
            date = dates[-1]
        elif date not in dates:
            shown = ", ".join(str(d) for d in dates[-5:]) + (", …" if len(dates) > 5 else "")
            fail(f"no scores stored for {date} in {store}: run `churnml score --as-of {date}` first "
                 f"({f'scored dates: {shown}' if dates else 'nothing is scored yet'}).")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("pushing batches", total=None)
            report = push_scores(settings.crm, store, date, target=to.value if to else None, full=full,
                                 dry_run=dry_run, progress=lambda done, total: bar.update(task, completed=done,
                                                                                          total=total))
    console.print(report_table(report))
    if dry_run and report.preview:
        preview = Table(title="first records", title_justify="left")
        for col in report.preview[0]:
            preview.add_column(str(col))
        for rec in report.preview[:10]:
            preview.add_row(*[str(v) for v in rec.values()])
        console.print(preview)
    for account, error in list(report.rejected.items())[:10]:
        console.print(f"[yellow]rejected[/] {account}: {error}", highlight=False)
