"""`import_data`: source + mapping → validated contract tables (or a snapshot) as Parquet, with a report.

Steps: check the mapping's SQL → open only the source tables it reads → build one SELECT per target table
→ count what each conversion did → validate (`churnml.data.validate`, strict or lenient; rejects quarantined to
`<out>/rejects/`) → write `<out>/<table>.parquet` and `<out>/import_report.json`. The output folder is an
ordinary churnml data folder: `churnml validate/features/train --data <out>` read it as it is; a snapshot
(`<out>/snapshot.parquet`) is trained with `churnml train-snapshot`.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Literal

import ibis.expr.types as ir
import pyarrow.parquet as pq
from rich.console import Console

from churnml.data.contract import TABLES, ColumnKind
from churnml.data.sources import SourceError, Tables
from churnml.data.validate import TableReport, validate_tables
from churnml.importer.mapping import Mapping, TableMap, load_mapping
from churnml.importer.readers import Source, open_source
from churnml.importer.report import REPORT_FILE, ColumnImport, ImportReport, TableImport
from churnml.importer.snapshot import SNAPSHOT_TABLE, snapshot_spec, validate_snapshot
from churnml.importer.sql import base_sql, check_table, converted, ident, kept_columns, stats_sql, table_sql

REJECTS_DIR = "rejects"


def _kinds(name: str, tm: TableMap) -> dict[str, ColumnKind | None]:
    spec = TABLES.get(name)
    out: dict[str, ColumnKind | None] = {}
    for col, cm in tm.columns.items():
        if spec is not None and col in spec.column_names:
            out[col] = spec.column(col).kind
        else:
            out[col] = cm.type
    return out


def _prepare_out(out: Path) -> None:
    """An empty folder, or one a previous import wrote (its tables and rejects are replaced)."""
    if out.exists() and any(out.iterdir()):
        if not (out / REPORT_FILE).exists():
            raise SourceError(f"output folder {out} is not empty and holds no earlier import; choose another "
                              "output folder")
        for name in [*TABLES, SNAPSHOT_TABLE]:
            (out / f"{name}.parquet").unlink(missing_ok=True)
        (out / REPORT_FILE).unlink()  # rewritten when this import succeeds; never left describing lost files
        shutil.rmtree(out / REJECTS_DIR, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _conversion_counts(src: Source, tm: TableMap, cast_extras: bool) -> dict[str, dict[str, int]]:
    """One aggregate pass over the mapped rows counting what each converted (or typed) column's steps did."""
    wanted = {
        col: stats_sql(cm, cm.type, cast=cast_extras)
        for col, cm in tm.columns.items()
        if converted(cm) or (cast_extras and cm.type is not None)
    }
    if not wanted:
        return {}
    exprs = [f"{sql} AS \"{col}|{key}\"" for col, stats in wanted.items() for key, sql in stats.items()]
    where = f" WHERE ({tm.where})" if tm.where else ""
    cur = src.con.raw_sql(f"SELECT {', '.join(exprs)} FROM {base_sql(tm)} AS src{where}")
    names = [d[0] for d in cur.description]
    row = cur.fetchall()[0]
    out: dict[str, dict[str, int]] = {}
    for name, value in zip(names, row, strict=True):
        col, key = name.split("|", 1)
        out.setdefault(col, {})[key] = int(value or 0)
    return out


def _count(src: Source, sql_from: str) -> int:
    return int(src.con.raw_sql(f"SELECT count(*) FROM {sql_from} AS src").fetchall()[0][0])


def import_data(
    source: str | Path,
    mapping: Mapping | Path | str,
    out: Path | str,
    *,
    lenient: bool = False,
    now: datetime | None = None,
    duplicate_events: Literal["keep", "drop"] = "keep",
    progress: Console | None = None,
) -> ImportReport:
    """Import a company's export through a mapping into `out`.

    Args:
        source: folder of CSV/Parquet files, `.duckdb` file, or database URL (see `churnml.importer.readers`).
        mapping: a `Mapping` or the path of a mapping YAML file.
        out: output folder (empty, or written by an earlier import).
        lenient: quarantine bad rows to `<out>/rejects/` instead of failing.
        now: extract time for the not-in-the-future checks (default: now).
        duplicate_events: events equal in every column are kept (default) or dropped to one copy; counted
            either way (`data.duplicate_events`, `churnml.data.validate`).
        progress: a rich console to draw progress on (database copies), or None for none.

    Returns:
        The import report (also written as `<out>/import_report.json`).

    Raises:
        MappingError: the mapping does not fit the source. SourceError: the source cannot be read.
        DataValidationError: strict mode and a bad row, or any mode and a missing required table/column.
    """
    t0 = time.perf_counter()
    mapping_path = str(mapping) if not isinstance(mapping, Mapping) else "(in memory)"
    m = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    out = Path(out)
    targets = m.targets()
    needed = list(dict.fromkeys(t for name, tm in targets.items() for t in check_table(tm, name)))
    as_text: dict[str, set[str]] = {}
    for tm in targets.values():
        if tm.source is not None:
            as_text.setdefault(tm.source, set()).update(
                cm.column for cm in tm.columns.values() if cm.column is not None and converted(cm)
            )
    src = open_source(source, needed, m.read, as_text, progress)
    report = ImportReport(str(src.location), mapping_path, m.shape, str(out), lenient, description=m.description,
                          notes=list(src.notes))
    status = progress.status("mapping, validating and writing…", spinner="dots") if progress else None
    if status is not None:
        status.start()
    try:
        _map_validate_write(src, m, targets, out, report, lenient, now, duplicate_events)
    finally:
        if status is not None:
            status.stop()
    report.seconds = round(time.perf_counter() - t0, 2)
    report.write(out)
    return report


def _map_validate_write(
    src: Source, m: Mapping, targets: dict[str, TableMap], out: Path, report: ImportReport, lenient: bool,
    now: datetime | None, duplicate_events: Literal["keep", "drop"],
) -> None:
    """Build each target table's SELECT, count conversions, validate, write Parquet; fill `report` in place."""
    mapped: dict[str, ir.Table] = {}
    for name, tm in targets.items():
        source_cols = src.columns(base_sql(tm))
        sql = table_sql(tm, _kinds(name, tm), source_cols, cast_extras=m.shape == "event_log")
        # A view, not `con.sql`: ibis 12's schema probe for ad-hoc SQL breaks under duckdb 2.
        view = f"_churnml_import_{name}"
        src.con.raw_sql(f"CREATE OR REPLACE VIEW {ident(view)} AS {sql}")
        mapped[name] = src.con.table(view)
        counts = _conversion_counts(src, tm, cast_extras=m.shape == "event_log")
        read = _count(src, base_sql(tm))
        kept = kept_columns(tm, source_cols)
        report.tables[name] = TableImport(
            table=name,
            origin=src.origins.get(tm.source, tm.source) if tm.source else "sql: " + " ".join((tm.sql or "").split()),
            rows_read=read,
            rows_filtered=read - int(mapped[name].count().execute()) if tm.where else 0,
            rows_written=0,
            rows_rejected=0,
            output="",
            columns=[ColumnImport(col, cm.describe(), counts.get(col, {})) for col, cm in tm.columns.items()],
            kept=kept,
            dropped=list(tm.drop),
        )

    _prepare_out(out)
    rejects_dir = out / REJECTS_DIR
    tables = Tables(src.con, str(src.location), mapped, {k: src.origins.get(k, k) for k in mapped})
    if m.shape == "snapshot":
        spec = snapshot_spec(mapped[SNAPSHOT_TABLE], targets[SNAPSHOT_TABLE])
        clean_table, vrep = validate_snapshot(tables, spec, lenient=lenient, rejects_dir=rejects_dir, now=now)
        clean, vreports = {SNAPSHOT_TABLE: clean_table}, {SNAPSHOT_TABLE: vrep}
    else:
        clean_tables, validation = validate_tables(
            tables, require_subscriptions="subscriptions" in mapped, lenient=lenient,
            rejects_dir=rejects_dir, now=now, duplicate_events=duplicate_events,
        )
        clean = {name: clean_tables[name] for name in mapped}
        vreports = validation.tables

    for name, table in clean.items():
        path = out / f"{name}.parquet"
        table.to_parquet(path)
        _finish(report.tables[name], vreports[name], path)


def _finish(entry: TableImport, vrep: TableReport, path: Path) -> None:
    entry.output = str(path)
    entry.rows_written = pq.ParquetFile(path).metadata.num_rows
    entry.rows_rejected = vrep.rows_rejected
    entry.rows_dropped = vrep.rows_dropped
    entry.rejects_path = str(vrep.rejects_path) if vrep.rejects_path else None
    entry.problems = [f"{p.check} ({p.column}): {p.n_rows:,} — {p.message}" if p.column else p.check
                      for p in vrep.problems]
    if vrep.ignored_columns:
        entry.problems.append(f"ignored columns (not in the contract): {', '.join(vrep.ignored_columns)}")
    entry.warnings = [f"{w.check}: {f'{w.n_rows:,} rows ' if w.n_rows else ''}{w.message}" for w in vrep.warnings]
    entry.notes = list(vrep.notes)
    accounted = entry.rows_filtered + entry.rows_written + entry.rows_rejected + entry.rows_dropped
    if entry.rows_read != accounted:
        raise RuntimeError(
            f"{entry.table}: {entry.rows_read} rows read but {entry.rows_filtered} filtered + {entry.rows_written} "
            f"written + {entry.rows_rejected} rejected + {entry.rows_dropped} dropped; please report this"
        )
