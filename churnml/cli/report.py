"""`churnml report`: the CS KPI report as one self-contained HTML file.

Thin: parse, call `churnml.reporting.report.build_report` and `write_report`, print where the file is. Registered by
`churnml.cli.app` as `app.command("report")(report_command)`. Expected failures (bad date, bad data, missing cost
file) are one red line and exit code 1; CHURNML_DEBUG=1 shows the traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from churnml.cli.errors import parse_date, user_errors
from churnml.cli.options import ConfigOpt, DataOpt

console = Console()


def report_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Report date (YYYY-MM-DD); data before it is used. "
                                              "Default: the end of the data.")] = None,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("work/report.html"),
    months: Annotated[int, typer.Option(min=1, max=60, help="Complete months reported before --as-of.")] = 12,
    costs: Annotated[Path | None, typer.Option(help="Acquisition costs (CSV/Parquet: account_id, cost — or "
                                               "month[, segment], cost) for LTV:CAC; default: an acquisition_costs "
                                               "table in the data folder, if any.")] = None,
    gross_margin: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Gross margin used in LTV "
                                                       "(default: reporting.gross_margin, 1.0).")] = None,
    data: DataOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the CS KPI report (retention, NRR/GRR, NPS/CSAT/CES, cohorts, model health) as one HTML file."""
    from churnml.config import load_settings
    from churnml.reporting.report import build_report, write_report

    date = parse_date(as_of) if as_of else None
    with user_errors():
        settings = load_settings(config)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(f"computing KPIs and cohorts as of {date or 'the end of the data'}", total=2)
            report = build_report(settings, date, data=data, costs=costs, months=months, gross_margin=gross_margin)
            progress.update(task, advance=1, description="drawing the plots and writing the HTML")
            path = write_report(report, out)
            progress.update(task, advance=1)
    o = report.overall.iloc[0]
    console.print(
        f"{report.months[0]:%b %Y}–{report.months[-1]:%b %Y}: logo churn {o['logo_churn_rate']:.1%}/month, "
        f"GRR {o['grr']:.1%}, NRR {o['nrr']:.1%} (monthly)", highlight=False,
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False)
