"""Rich rendering of library results for the CLI, with every piece of data escaped.

The library returns plain text and dataclasses; this module alone turns them into rich tables. Values from the
data (account ids, column names, messages quoting them) are escaped, so `[/x]` in an id prints as itself and
cannot break the renderer or swallow the `[check]` tag of a validation message.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from churnml.data.validate import ValidationReport


def validation_table(report: ValidationReport) -> Table:
    """Rows in / ok / rejected (and dropped), problems, warnings and notes per table."""
    out = Table(title="Data validation")
    dropped = any(r.rows_dropped for r in report.tables.values())
    headers = [("table", "left"), ("rows in", "right"), ("ok", "right"), ("rejected", "right")]
    headers += [("dropped", "right")] if dropped else []
    headers += [("problems and warnings", "left"), ("rejects file", "left")]
    for header, justify in headers:
        # Names and counts never break mid-word at 80 columns; the free-text columns take what is left.
        text = header in ("problems and warnings", "rejects file")
        out.add_column(header, justify=justify, overflow="fold", no_wrap=not text)  # type: ignore[arg-type]
    for rep in report.tables.values():
        lines = [escape(f"{p.check} ({p.column}): {p.n_rows:,}" if p.column else p.check) for p in rep.problems]
        if rep.ignored_columns:
            lines.append(escape(f"ignored columns: {', '.join(rep.ignored_columns)}"))
        for w in rep.warnings:
            count = f"{w.n_rows:,} rows " if w.n_rows else ""
            lines.append(f"[yellow]warning {escape(w.check)}: {escape(count + w.message)}[/yellow]")
        lines += [f"[dim]{escape(note)}[/dim]" for note in rep.notes]
        cells = [escape(rep.table), f"{rep.rows_in:,}", f"{rep.rows_ok:,}",
                 f"[red]{rep.rows_rejected:,}[/red]" if rep.rows_rejected else "0"]
        cells += [f"{rep.rows_dropped:,}"] if dropped else []
        ok = not rep.problems and not rep.ignored_columns
        cells += ["\n".join(lines) if lines and not ok else "\n".join(["[green]none[/green]", *lines]),
                  escape(str(rep.rejects_path)) if rep.rejects_path else ""]
        out.add_row(*cells)
    return out


__all__ = ["escape", "validation_table"]
