"""`churnml retrain`: the weekly job (train, backtest, promote if better, score, drift, push) in one command.

Thin: parse, call `churnml.jobs.weekly.run_weekly`, print. Registered by `churnml.cli.app` as
`app.command(name="retrain")(retrain_command)`. Any failure is one red line and exit code 1.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from churnml.cli.errors import parse_date, user_errors
from churnml.cli.options import ConfigOpt, DataOpt

console = Console()


def retrain_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring date (default: end of the data).")] = None,
    data: DataOpt = None,
    push: Annotated[bool | None, typer.Option("--push/--no-push", help="Push scores (default: retrain.push).")]
    = None,
    to: Annotated[str | None, typer.Option("--to", help="Push target (default: crm.target).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Run again even if this week already succeeded.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Weekly job: validate → features → train challenger → backtest vs champion → drift → promote → score → push."""
    from churnml.config import load_settings
    from churnml.jobs.weekly import run_weekly

    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        with console.status("weekly job: validate → features → train → drift → promote → score → push…"):
            result = run_weekly(settings, as_of=date, data=data, push=push, target=to, force=force)
    if result.status == "skipped":
        console.print(f"week {result.week} already done (champion v{result.champion}); "
                      f"summary: {result.summary_path} — use --force to run it again", highlight=False)
        return
    verdict = "promoted to champion" if result.promoted else "stays challenger"
    console.print(f"week {result.week}: challenger v{result.version} {verdict} — {result.reason}", highlight=False)
    if result.drift is not None and result.drift.breached:
        console.print(f"[yellow]drift breach:[/] {', '.join(result.drift.breaches)}", highlight=False)
    pushed = (f"; pushed {result.push.acked:,} to {result.push.target} ({len(result.push.rejected)} rejected)"
              if result.push else "")
    console.print(f"{result.scored:,} accounts scored as of {result.as_of}{pushed}", highlight=False)
    console.print(f"summary: {result.summary_path} (MLflow run {result.run_id})", highlight=False)
