"""From a data source to validated tables: the step every job shares (open → validate).

The CLI, the demo, the weekly job and notebooks all call `load_data`, so opening and validating is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis

from churnml.config import Settings
from churnml.data.sources import Tables, duckdb_connection, open_tables
from churnml.data.validate import ValidationReport, validate_tables


@dataclass
class LoadedData:
    """Validated tables plus what validation found."""

    tables: Tables
    report: ValidationReport


def connect(settings: Settings) -> ibis.BaseBackend:
    """The backend connection for the configured engine (Spark: `churnml.data.spark.spark_connection`)."""
    if settings.features.engine == "spark":
        from churnml.data.spark import spark_connection

        return spark_connection()
    return duckdb_connection(settings.features.duckdb_memory_limit, settings.features.duckdb_threads)


def load_data(settings: Settings, data: Path | None = None, lenient: bool | None = None) -> LoadedData:
    """Open and validate the input tables (strict unless lenient; see `churnml.data.validate`)."""
    source = Path(data) if data is not None else settings.data.dir
    tables = open_tables(source, connect(settings))
    is_lenient = settings.data.lenient if lenient is None else lenient
    clean, report = validate_tables(
        tables,
        require_subscriptions=settings.labels.kind == "contractual",
        lenient=is_lenient,
        rejects_dir=settings.data.rejects_dir,
        work_dir=settings.work_dir / "validated",
        duplicate_events=settings.data.duplicate_events,
    )
    return LoadedData(clean, report)


__all__ = ["LoadedData", "connect", "load_data"]
