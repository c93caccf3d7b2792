"""From a data source to validated tables and to feature/label files: the steps every job shares.

The CLI, the demo, the weekly job and notebooks all call these, so "open → validate → features" is
written once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd
import pyarrow.parquet as pq

from churnml.config import Settings
from churnml.features import FeatureSet, feature_set
from churnml.features.calendar import date_range, normalise_dates
from churnml.features.keys import KEYS
from churnml.labels import labels_expr, observed_until
from churnml.sources import Tables, duckdb_connection, open_tables
from churnml.validate import ValidationReport, validate_tables


@dataclass
class LoadedData:
    """Validated tables plus what validation found."""

    tables: Tables
    report: ValidationReport


def connect(settings: Settings) -> ibis.BaseBackend:
    """The backend connection for the configured engine (Spark: `churnml.spark.spark_connection`)."""
    if settings.features.engine == "spark":
        from churnml.spark import spark_connection

        return spark_connection()
    return duckdb_connection(settings.features.duckdb_memory_limit, settings.features.duckdb_threads)


def load_data(settings: Settings, data: Path | None = None, lenient: bool | None = None) -> LoadedData:
    """Open and validate the input tables (strict unless lenient; see `churnml.validate`)."""
    source = Path(data) if data is not None else settings.data.dir
    tables = open_tables(source, connect(settings))
    is_lenient = settings.data.lenient if lenient is None else lenient
    clean, report = validate_tables(
        tables,
        require_subscriptions=settings.labels.kind == "contractual",
        lenient=is_lenient,
        rejects_dir=settings.data.rejects_dir,
        work_dir=settings.work_dir / "validated",
    )
    return LoadedData(clean, report)


_EVERY = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$")


def parse_every(text: str) -> int:
    """'7d' / '2w' / '7' -> days."""
    m = _EVERY.match(text)
    if not m:
        raise ValueError(f"--every must look like 7d or 2w, got {text!r}")
    n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if n < 1:
        raise ValueError("--every must be at least 1 day")
    return n


def resolve_dates(
    as_of: str | None, every: str | None, start: str | None, end: str | None
) -> list[dt.date]:
    """As-of dates from either an explicit comma-separated list or --every/--from/--to."""
    if as_of and (every or start or end):
        raise ValueError("give either --as-of or --every/--from/--to, not both")
    if as_of:
        return normalise_dates(x for x in as_of.split(",") if x.strip())
    if not (every and start and end):
        raise ValueError("give --as-of DATE[,DATE...] or all of --every, --from and --to")
    return date_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end), parse_every(every))


def training_dates(tables: Tables, every_days: int, horizon_days: int, history_days: int = 90) -> list[dt.date]:
    """Weekly snapshot dates over the data: from `history_days` after it starts (so look-back windows are
    full) to its end. The last dates have unobserved labels; they are kept for scoring and drift."""
    con = tables.con
    start_ts = con.execute(tables["events"].ts.min()) if "events" in tables else None
    if start_ts is None and "subscriptions" in tables:
        start_ts = con.execute(tables["subscriptions"].start_date.min())
    if start_ts is None:
        raise ValueError("cannot tell when the data starts: no events and no subscriptions")
    first = pd.Timestamp(start_ts).date() + dt.timedelta(days=history_days)
    last = observed_until(tables)
    if first >= last:
        raise ValueError(f"the data spans too little time for snapshots: {first} >= {last}")
    return date_range(first, last, every_days)


def write_features(fs: FeatureSet, out: Path) -> int:
    """Write the feature table as Parquet (engine-side, no pandas round trip); returns row count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table = fs.table.order_by(KEYS)
    table.to_parquet(out)
    return int(pq.read_metadata(out).num_rows)


def write_labels(tables: Tables, fs: FeatureSet, settings: Settings, out: Path) -> pd.DataFrame:
    """Write labels keyed by (account_id, as_of) beside the features; returns them."""
    lab = labels_expr(tables, fs.dates, settings.labels, until=observed_until(tables))
    df = lab.order_by(KEYS).to_pandas()
    df["as_of"] = pd.to_datetime(df["as_of"])
    df["churned"] = df["churned"].astype("boolean")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    return df


def churn_rate_by_date(labels: pd.DataFrame) -> pd.DataFrame:
    """Accounts, labelled rows and churn rate per as-of date (for summaries)."""
    g = labels.groupby("as_of")
    out = pd.DataFrame(
        {
            "accounts": g.size(),
            "labelled": g["churned"].count(),
            "churned": g["churned"].sum(),
        }
    )
    out["churn_rate"] = out["churned"] / out["labelled"].where(out["labelled"] > 0)
    return out.reset_index()


__all__ = [
    "LoadedData",
    "churn_rate_by_date",
    "connect",
    "feature_set",
    "load_data",
    "parse_every",
    "resolve_dates",
    "training_dates",
    "write_features",
    "write_labels",
]
