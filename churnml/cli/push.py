"""`churnml push`: send one as-of date's stored scores to the CRM (or a file), exactly once per record; with
`--alerts`, a task per routed alert instead (HubSpot, Salesforce or a chat webhook), exactly once per alert.

Thin: parse, call `churnml.crm.push.push_scores` (or `churnml.plays.delivery.deliver_tasks`), print with rich.
Registered by `churnml.cli.app` as `app.command(name="push")(push_command)`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
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
    """Where scores go (hubspot, salesforce, webhook, csv, parquet) or alert tasks go (hubspot, salesforce, slack)."""

    hubspot = "hubspot"
    salesforce = "salesforce"
    webhook = "webhook"
    csv = "csv"
    parquet = "parquet"
    slack = "slack"


SCORE_TARGETS = ("hubspot", "salesforce", "webhook", "csv", "parquet")
TASK_TARGETS = ("hubspot", "salesforce", "slack")


def report_table(report: PushReport) -> Table:
    """A push report as a rich table."""
    verb = "would push" if report.dry_run else "pushed"
    tasks = hasattr(report, "held_out")
    what = "alert tasks" if tasks else "scores"
    table = Table(title=f"{report.target} · {what} of {report.as_of} · {verb}", show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    if tasks:
        rows = {"routed alerts": report.scored, "held out (never sent)": report.held_out,  # type: ignore[attr-defined]
                "already delivered (skipped)": report.unchanged, "tasks to send": report.planned}
    else:
        rows = {"accounts scored": report.scored, "unchanged (skipped)": report.unchanged,
                "records to send": report.planned}
    rows |= {"batches": report.batches, "resumed batches": report.resumed_batches}
    if not report.dry_run:
        rows |= {"acknowledged": report.acked, "rejected": len(report.rejected), "retries": report.retries}
    for k, v in rows.items():
        table.add_row(k, f"{v:,}")
    return table


def push_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="As-of date of the stored scores to push, YYYY-MM-DD "
                                              "(default: the latest scored date).")] = None,
    to: Annotated[To | None, typer.Option("--to", "--target", help="Target (default: crm.target; with --alerts "
                                          "crm.tasks.target: hubspot, salesforce or slack).")] = None,
    alerts: Annotated[bool, typer.Option("--alerts", help="Push a task per routed alert of the week (never the "
                                         "held-out ones), exactly once per alert.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Push every account, not only changed scores.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Push risk scores to HubSpot, Salesforce, a signed webhook, or a CSV/Parquet file (--alerts: alert tasks)."""
    from churnml.config import load_settings
    from churnml.crm.push import push_scores
    from churnml.scoring.store import ScoreStore

    date = parse_date(as_of) if as_of else None
    if to is not None and to.value not in (TASK_TARGETS if alerts else SCORE_TARGETS):
        fail(f"--to {to.value} is not a {'task' if alerts else 'score'} target; choose one of "
             f"{', '.join(TASK_TARGETS if alerts else SCORE_TARGETS)}.")
    if alerts and full:
        fail("--full is for scores: an alert's task is sent once, ever (re-send it by deleting its ledger record).")
    if alerts:
        _push_alerts(date, to.value if to else None, dry_run, config)
        return
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
    _print_report(report, dry_run)


def _push_alerts(date: dt.date | None, target: str | None, dry_run: bool, config: Path | None) -> None:
    """`churnml push --alerts`: the routed alerts' tasks of `date` (default: the latest alert week)."""
    from churnml.config import load_settings
    from churnml.plays.delivery import deliver_tasks

    with user_errors():
        settings = load_settings(config)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("pushing tasks", total=None)
            report = deliver_tasks(settings, date, target=target, dry_run=dry_run,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
    _print_report(report, dry_run)


def _print_report(report: PushReport, dry_run: bool) -> None:
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
