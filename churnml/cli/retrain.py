"""`churnml retrain`: the weekly job (train, backtest, promote if better, score, drift, push) in one command.

Thin: parse, call `churnml.jobs.weekly.run_weekly`, print. Registered by `churnml.cli.app` as
`app.command(name="retrain")(retrain_command)`; `python -m pipelines.weekly_retrain` (cron, Airflow, Prefect,
Dagster) and the demo run this same command. Any failure is one red line and exit code 1.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from churnml.cli.errors import parse_date, user_errors
from churnml.cli.options import ConfigOpt, DataOpt

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.jobs.weekly import WeeklyResult

console = Console()


def run_retrain(settings: Settings, *, as_of: dt.date | None = None, data: Path | None = None,
                push: bool | None = None, target: str | None = None, force: bool = False,
                local_webhook: bool = False) -> WeeklyResult:
    """Run the week once and print what it did (the command's body; the demo calls it with its own settings).

    `local_webhook` serves a tiny signed-webhook receiver in this process and pushes to it (no CRM needed).

    Raises:
        RetrainError: the week failed (one line).
    """
    from churnml.jobs.weekly import run_weekly

    status = "weekly job: validate → features → train → drift → promote → score → push…"
    if not local_webhook:
        with console.status(status):
            result = run_weekly(settings, as_of=as_of, data=data, push=push, target=target, force=force)
    else:
        from churnml.crm.receiver import WebhookReceiver

        secret = os.environ.get(settings.crm.webhook.secret_env) or secrets.token_hex(16)
        os.environ[settings.crm.webhook.secret_env] = secret
        with WebhookReceiver(secret) as receiver:
            settings.crm.webhook.url = receiver.url
            with console.status(status):
                result = run_weekly(settings, as_of=as_of, data=data, push=True, target="webhook", force=force)
            console.print(f"local webhook {receiver.url}: {len(receiver.records):,} accounts received in "
                          f"{receiver.batches} signed batches ({receiver.duplicates} repeated batches dropped)",
                          highlight=False, soft_wrap=True)
    print_result(result)
    return result


def print_result(result: WeeklyResult) -> None:
    """What the week did, in a few lines."""
    if result.status == "skipped":
        console.print(f"week {result.week} already done (champion v{result.champion}); "
                      f"summary: {result.summary_path} — use --force to run it again", highlight=False, soft_wrap=True)
        return
    verdict = "promoted to champion" if result.promoted else "stays challenger"
    console.print(f"week {result.week}: challenger v{result.version} {verdict} — {result.reason}", highlight=False)
    if result.drift is not None and result.drift.breached:
        console.print(f"[yellow]drift breach:[/] {', '.join(result.drift.breaches)}", highlight=False)
    if result.drift is not None and result.drift.ageing:
        console.print(f"[dim]shifted as the accounts age (expected, not a breach): {', '.join(result.drift.ageing)}"
                      "[/]", highlight=False, soft_wrap=True)
    pushed = (f"; pushed {result.push.acked:,} to {result.push.target} ({len(result.push.rejected)} rejected, "
              f"{result.push.unchanged:,} unchanged)" if result.push else "")
    console.print(f"{result.scored:,} accounts scored as of {result.as_of}{pushed}", highlight=False)
    console.print(f"summary: {result.summary_path} (MLflow run {result.run_id})", highlight=False, soft_wrap=True)


def retrain_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring date (default: end of the data).")] = None,
    data: DataOpt = None,
    push: Annotated[bool | None, typer.Option("--push/--no-push", help="Push scores (default: retrain.push).")]
    = None,
    to: Annotated[str | None, typer.Option("--to", help="Push target (default: crm.target).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run again even if this week already succeeded.")] = False,
    local_webhook: Annotated[bool, typer.Option(
        "--local-webhook", help="Serve a local signed-webhook receiver in this process and push to it (demo: no "
        "CRM needed).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Weekly job: validate → features → train challenger → backtest vs champion → drift → promote → score → push."""
    from churnml.config import load_settings

    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        run_retrain(settings, as_of=date, data=data, push=push, target=to, force=force, local_webhook=local_webhook)
