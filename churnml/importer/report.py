"""The import report: what was mapped, converted and rejected, per table, with counts.

Plain data (written as `import_report.json` beside the imported tables) plus rich tables for the CLI.
For every table `rows_read == rows_filtered + rows_written + rows_rejected`: nothing is dropped unseen.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table as RichTable

REPORT_FILE = "import_report.json"


@dataclass
class ColumnImport:
    """One target column: how it was filled, and counts of what its conversion did (if converted)."""

    target: str
    how: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class TableImport:
    """One target table.

    Attributes:
        rows_read: rows in the source (before `where`).
        rows_filtered: rows left out by the mapping's `where` (a choice, not a rejection).
        rows_written / rows_rejected: after validation; rejects are in `rejects_path` with reasons.
        problems: validation problems, one line each (check, column, count, reason).
        kept / dropped: attribute columns carried over unchanged, and those the mapping left out.
    """

    table: str
    origin: str
    rows_read: int
    rows_filtered: int
    rows_written: int
    rows_rejected: int
    output: str
    columns: list[ColumnImport] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rejects_path: str | None = None


@dataclass
class ImportReport:
    """The whole import."""

    source: str
    mapping: str
    shape: str
    out: str
    lenient: bool
    tables: dict[str, TableImport] = field(default_factory=dict)
    description: str = ""

    @property
    def total_rejected(self) -> int:
        """Rows quarantined over all tables."""
        return sum(t.rows_rejected for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        """Write `import_report.json` into `folder`; returns its path."""
        path = Path(folder) / REPORT_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path


def summary_table(report: ImportReport) -> RichTable:
    """Rows read / filtered / written / rejected per table."""
    out = RichTable(title=f"Import from {report.source} ({report.shape})", title_justify="left")
    for header in ("table", "from", "read", "filtered", "written", "rejected", "problems"):
        out.add_column(header, justify="left" if header in ("table", "from", "problems") else "right",
                       overflow="fold")
    for t in report.tables.values():
        out.add_row(
            t.table, t.origin, f"{t.rows_read:,}", f"{t.rows_filtered:,}", f"{t.rows_written:,}",
            f"[red]{t.rows_rejected:,}[/red]" if t.rows_rejected else "0",
            "\n".join(t.problems) or "[green]none[/green]",
        )
    return out


def columns_table(report: ImportReport) -> RichTable:
    """How each target column was filled, with conversion counts."""
    out = RichTable(title="Columns mapped", title_justify="left")
    for header in ("table", "column", "from / how", "conversion counts"):
        out.add_column(header, overflow="fold")
    for t in report.tables.values():
        for c in t.columns:
            counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in c.counts.items())
            out.add_row(t.table, c.target, c.how, counts)
        if t.kept:
            out.add_row(t.table, f"{len(t.kept)} kept as is", ", ".join(t.kept), "")
        if t.dropped:
            out.add_row(t.table, f"{len(t.dropped)} left out", ", ".join(t.dropped), "")
    return out
