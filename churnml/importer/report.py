"""The import report: what was mapped, converted and rejected, per table, with counts.

Plain data (written as `import_report.json` beside the imported tables) plus rich tables for the CLI (data in
them escaped, so markup in a value prints as itself).
For every table `rows_read == rows_filtered + rows_written + rows_rejected + rows_dropped`: nothing is dropped
unseen (`rows_dropped`: repeated events under `data.duplicate_events: drop`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
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
        warnings / notes: legal findings (repeated events, an empty table) and what validation did to
            values (offsets converted to UTC, a derived `created_at`).
        rows_dropped: repeated events dropped under `data.duplicate_events: drop` (one copy kept).
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
    rows_dropped: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The whole import; `seconds` is its wall time, `notes` how the source was read."""

    source: str
    mapping: str
    shape: str
    out: str
    lenient: bool
    tables: dict[str, TableImport] = field(default_factory=dict)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

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
    title = f"Import from {escape(report.source)} ({report.shape})"
    if report.notes:
        title += "\n" + "\n".join(escape(n) for n in report.notes)
    out = RichTable(title=title, title_justify="left")
    dropped = any(t.rows_dropped for t in report.tables.values())
    headers = ["table", "from", "read", "filtered", "written", "rejected", *(["dropped"] if dropped else []),
               "problems"]
    for header in headers:
        out.add_column(header, justify="left" if header in ("table", "from", "problems") else "right",
                       overflow="fold")
    for t in report.tables.values():
        lines = [escape(p) for p in t.problems] or ["[green]none[/green]"]
        lines += [f"[yellow]warning {escape(w)}[/yellow]" for w in t.warnings]
        lines += [f"[dim]{escape(n)}[/dim]" for n in t.notes]
        out.add_row(
            escape(t.table), escape(t.origin), f"{t.rows_read:,}", f"{t.rows_filtered:,}", f"{t.rows_written:,}",
            f"[red]{t.rows_rejected:,}[/red]" if t.rows_rejected else "0",
            *([f"{t.rows_dropped:,}"] if dropped else []),
            "\n".join(lines),
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
            out.add_row(escape(t.table), escape(c.target), escape(c.how), counts)
        if t.kept:
            out.add_row(escape(t.table), f"{len(t.kept)} kept as is", escape(", ".join(t.kept)), "")
        if t.dropped:
            out.add_row(escape(t.table), f"{len(t.dropped)} left out", escape(", ".join(t.dropped)), "")
    return out
