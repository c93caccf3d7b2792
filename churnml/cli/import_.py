"""`churnml import`: map a company's own tables onto the data contract (or a snapshot), validate, report.

Thin: parse, call `churnml.importer.import_data`, print the report with rich. Registered by `churnml.cli.app` as
`app.command(name="import")(import_command)`. Bad mappings, unreadable sources and (strict mode) bad rows are
one red line each and exit code 1; CHURNML_DEBUG=1 shows the traceback. Like every command it takes `--config`:
`data.lenient` and `data.duplicate_events` apply unless `--lenient` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from churnml.cli.errors import user_errors
from churnml.cli.options import ConfigOpt

console = Console()


def import_command(
    source: Annotated[str, typer.Option("--source", "--from", help="Folder of CSV/Parquet files, a .duckdb file, "
                                        "or a database URL (postgresql://user:pw@host:5432/db, sqlite:///x.db).")],
    mapping: Annotated[Path, typer.Option("--mapping", help="Mapping YAML (see configs/mapping.yaml).")],
    out: Annotated[Path, typer.Option("--out", "--to", help="Output folder: contract tables (or snapshot.parquet) "
                                      "as Parquet, rejects/ and import_report.json.")],
    lenient: Annotated[bool, typer.Option(help="Quarantine bad rows to OUT/rejects instead of failing "
                                          "(default: data.lenient).")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import your own tables through a mapping file: rename, convert, validate, and report what happened."""
    from churnml.config import load_settings
    from churnml.importer import import_data
    from churnml.importer.report import REPORT_FILE, columns_table, summary_table

    with user_errors():
        settings = load_settings(config)
        report = import_data(
            source, mapping, out, lenient=lenient or settings.data.lenient,
            duplicate_events=settings.data.duplicate_events, progress=console,
        )
    console.print(columns_table(report))
    console.print(summary_table(report))
    if report.total_rejected:
        console.print(f"[yellow]{report.total_rejected:,} rows quarantined to {out / 'rejects'}[/]", highlight=False)
    console.print(f"written to {out} (report: {out / REPORT_FILE}) in {report.seconds:.1f} s", highlight=False)
