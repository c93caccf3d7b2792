"""The tabular snapshot shape: one row per customer, static attributes and a churned flag, checked like a table.

A snapshot is checked with the same rules and the same strict/lenient behaviour as the contract tables
(`churnml.data.validate`): the id must be present and unique, the churned flag must read as a boolean, a
`split` column (if mapped) must say "train" or "test", and every attribute must read as its type — a row
that breaks a rule fails the import (strict) or is quarantined with its row number and reason (lenient).
The table's spec is built from the mapped columns, since each company's attributes differ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import ibis.expr.types as ir

from churnml.data import validate as _v
from churnml.data.contract import ColumnKind, ColumnSpec, TableSpec
from churnml.data.sources import Tables
from churnml.data.validate import DataValidationError, TableReport
from churnml.importer.mapping import SNAPSHOT_ID, SNAPSHOT_KEYS, SNAPSHOT_LABEL, SNAPSHOT_SPLIT, TableMap

SNAPSHOT_TABLE = "snapshot"
SPLITS = ("train", "test")


def infer_kind(dtype: object) -> ColumnKind:
    """Contract type for a column of this Ibis type (text and anything unusual become strings)."""
    if dtype.is_boolean():  # type: ignore[attr-defined]
        return "bool"
    if dtype.is_integer():  # type: ignore[attr-defined]
        return "int"
    if dtype.is_floating() or dtype.is_decimal():  # type: ignore[attr-defined]
        return "float"
    if dtype.is_timestamp():  # type: ignore[attr-defined]
        return "timestamp"
    if dtype.is_date():  # type: ignore[attr-defined]
        return "date"
    return "string"


def snapshot_spec(mapped: ir.Table, tm: TableMap) -> TableSpec:
    """The snapshot's spec: id, label, optional split, then one nullable column per attribute."""
    cols = [
        ColumnSpec(SNAPSHOT_ID, "id", description="Customer identifier."),
        ColumnSpec(SNAPSHOT_LABEL, "bool", description="Churned (as given by the source)."),
    ]
    if SNAPSHOT_SPLIT in mapped.columns:
        cols.append(ColumnSpec(SNAPSHOT_SPLIT, "string", allowed=SPLITS, description="Given train/test split."))
    for name in mapped.columns:
        if name in SNAPSHOT_KEYS:
            continue
        declared = tm.columns[name].type if name in tm.columns else None
        cols.append(ColumnSpec(name, declared or infer_kind(mapped[name].type()), nullable=True))
    return TableSpec(SNAPSHOT_TABLE, tuple(cols), unique_key=(SNAPSHOT_ID,), description="Tabular snapshot.")


def validate_snapshot(
    tables: Tables, spec: TableSpec, *, lenient: bool, rejects_dir: Path, now: datetime | None = None
) -> tuple[ir.Table, TableReport]:
    """Check the snapshot table `tables["snapshot"]` against `spec`; return the clean, typed table and report.

    Uses `churnml.data.validate`'s checks and quarantine (its per-table steps), so the rules, messages and
    rejects files are exactly those of the contract tables.

    Raises:
        DataValidationError: strict mode and any problem.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    prep = _v._prepare(spec, tables[SNAPSHOT_TABLE], now)
    if lenient:
        clean, report = _v._lenient(tables, {SNAPSHOT_TABLE: prep}, rejects_dir, None)
        return clean[SNAPSHOT_TABLE], report.tables[SNAPSHOT_TABLE]
    counts = _v._count(prep, None)
    problems = _v._strict_problems(prep, counts, None) if counts.any else []
    if problems:
        raise DataValidationError(problems)
    table_report = TableReport(SNAPSHOT_TABLE, counts.rows_in, counts.rows_in, 0, [], None, prep.ignored)
    return _v._clean_view(prep, prep.cast), table_report
