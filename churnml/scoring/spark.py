"""Batch scoring on Spark: the registered model and the same explain code, applied per partition.

The embedded path (`churnml.scoring.job.run_scoring`) computes features on DuckDB and calls `score_accounts` on one
pandas frame. Here the feature expression runs on Spark, each account's previous scoring and its segment/CSM
are joined on in Spark, and `score_accounts` runs inside `mapInPandas` on each partition: one implementation of
scoring, reasons and "why it moved", so the score table has exactly the embedded shape and values
(explanations of a row never depend on the other rows of its batch; `tests/integration/data/test_spark.py` checks
equality).

The model is the MLflow artifact (`churnml.model.pyfunc.load_churn_model`), loaded once on the driver and shipped to
the executors inside the task closure (a few MB), rather than `mlflow.pyfunc.spark_udf`, whose one output
column cannot carry the structured reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.config import RiskBands
from churnml.features.pipeline import finalise_frame
from churnml.scoring.store import COLUMNS
from churnml.scoring.table import score_accounts

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from ibis.expr.types import Table
    from pyspark.sql import DataFrame, SparkSession

    from churnml.features.catalog import FeatureSpec

#: Columns of a previous scoring that "why the score moved" reads, carried under `_prev_<name>`.
PREVIOUS_COLUMNS = ("as_of", "churn_probability", "theme_contributions", "base_value", "model_name", "model_version",
                    "signals")
_PREV = "_prev_"
_ACCOUNT = "_account_"


def spark_schema(columns: Sequence[str] = tuple(COLUMNS)) -> str:
    """Score table columns (default: all, in store order) as a Spark DDL string, typed as in the store."""
    types = {"VARCHAR": "STRING", "DATE": "DATE", "DOUBLE": "DOUBLE", "TIMESTAMP": "TIMESTAMP"}
    return ", ".join(f"{name} {types[COLUMNS[name].split()[0]]}" for name in columns)


def spark_frame(con: BaseBackend, expr: Table, name: str) -> DataFrame:
    """The Spark DataFrame of an Ibis expression on a pyspark connection (lazy: nothing is computed yet).

    Public Ibis API only: the expression becomes the temporary view `name` (`create_view` registers the
    in-memory tables it uses, e.g. the as-of dates), read back with `raw_sql`, which returns Spark's DataFrame.
    """
    con.create_view(name, expr, overwrite=True)
    return con.raw_sql(f"SELECT * FROM `{name}`")


def _for_spark(scores: pd.DataFrame) -> pd.DataFrame:
    """Score table columns as Arrow hands them to Spark: dates as `datetime.date`, the rest unchanged."""
    out = scores[list(COLUMNS)].copy()
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    prev = pd.to_datetime(out["previous_as_of"])
    out["previous_as_of"] = [None if pd.isna(v) else v.date() for v in prev]
    return out


def score_partitions(
    model: Any,
    specs: Sequence[FeatureSpec],
    *,
    model_name: str,
    model_version: str | int,
    bands: RiskBands,
    top_n: int,
    min_contribution: float,
    scored_at: dt.datetime,
) -> Any:
    """The `mapInPandas` function: feature rows (+ `_prev_*`, `_account_*` columns) -> score table rows."""
    names = [s.name for s in specs]

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if batch.empty:
                continue
            features = finalise_frame(batch[["account_id", "as_of", *names]], specs)
            order = batch.set_index(batch["account_id"].astype(str))
            prev_cols = [c for c in batch.columns if c.startswith(_PREV)]
            previous = None
            if prev_cols:
                previous = batch.loc[batch[f"{_PREV}as_of"].notna(), ["account_id", *prev_cols]]
                previous = previous.rename(columns=lambda c: c.removeprefix(_PREV))
            accounts = None
            acct_cols = [c for c in batch.columns if c.startswith(_ACCOUNT)]
            if acct_cols:
                accounts = order[acct_cols].rename(columns=lambda c: c.removeprefix(_ACCOUNT)).reset_index()
            scores = score_accounts(
                model, features, model_name=model_name, model_version=model_version, accounts=accounts,
                previous=previous, bands=bands, top_n=top_n, min_contribution=min_contribution,
                scored_at=scored_at, specs=specs,
            )
            yield _for_spark(scores)

    return run


def score_on_spark(
    features: DataFrame,
    model: Any,
    specs: Sequence[FeatureSpec],
    *,
    model_name: str,
    model_version: str | int,
    previous: DataFrame | None = None,
    accounts: DataFrame | None = None,
    bands: RiskBands | None = None,
    top_n: int = 3,
    min_contribution: float = 0.01,
    scored_at: dt.datetime | None = None,
) -> DataFrame:
    """Score and explain a Spark feature table (one as-of date) with `model`; returns the score table, lazily.

    Args:
        features: `account_id`, `as_of` and the feature columns named by `specs`.
        model: fitted `ChurnModel` (e.g. `load_churn_model("models:/churn-risk/3")`).
        specs: the feature set's specs (`FeatureSet.specs`): names and kinds, to give each partition the
            canonical in-memory form (`finalise_frame`) training used.
        previous: each account's previous scoring (score table rows, one per account), for the change columns.
        accounts: `account_id` with optional `segment`, `csm_id`, `account_name` and `csm_name`.
        Others: as `churnml.scoring.table.score_accounts`; `scored_at` defaults to now (UTC), the same on every row.
    """
    from pyspark.sql import functions as F

    frame = features
    if previous is not None:
        prev = previous.select(
            F.col("account_id").alias(f"{_PREV}account_id"), *[F.col(c).alias(f"{_PREV}{c}") for c in PREVIOUS_COLUMNS]
        )
        frame = frame.join(prev, frame["account_id"] == prev[f"{_PREV}account_id"], "left").drop(f"{_PREV}account_id")
    if accounts is not None:
        keep = [c for c in ("segment", "csm_id", "account_name", "csm_name") if c in accounts.columns]
        if keep:
            acct = accounts.select(
                F.col("account_id").cast("string").alias(f"{_ACCOUNT}id"),
                *[F.col(c).cast("string").alias(f"{_ACCOUNT}{c}") for c in keep],
            )
            frame = frame.join(acct, frame["account_id"] == acct[f"{_ACCOUNT}id"], "left").drop(f"{_ACCOUNT}id")
    fn = score_partitions(
        model, specs, model_name=model_name, model_version=model_version, bands=bands or RiskBands(),
        top_n=top_n, min_contribution=min_contribution,
        scored_at=scored_at or dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    return frame.mapInPandas(fn, spark_schema())


def write_scores_spark(scores: DataFrame, out: Path | str) -> None:
    """Write a score table as Parquet partitioned by as_of, replacing only the as-of dates it holds."""
    (scores.write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
     .partitionBy("as_of").parquet(str(out)))

def rewrite_scores_spark(session: SparkSession, scores: pd.DataFrame, out: Path | str) -> None:
    """Write a pandas score table (one as-of date, e.g. re-banded over the whole date) over its partition."""
    write_scores_spark(session.createDataFrame(_for_spark(scores), spark_schema()), out)


def read_scores_spark(session: SparkSession, out: Path | str, as_of: dt.date) -> pd.DataFrame:
    """One as-of date of a score table written by `write_scores_spark`, in the score store's form.

    Spark reads the partition back with its `as_of` partition column (typed DATE by the schema); the
    columns come in store order, dates as pandas timestamps, sorted by account. Empty when the date holds no row.
    """
    from pyspark.sql import functions as F

    frame = session.read.schema(spark_schema()).parquet(str(out)).where(F.col("as_of") == F.lit(as_of))
    scores = frame.toPandas()
    for col in ("as_of", "previous_as_of"):
        scores[col] = pd.to_datetime(scores[col])
    return scores[list(COLUMNS)].sort_values("account_id", kind="stable").reset_index(drop=True)


def previous_on_spark(session: SparkSession, previous: pd.DataFrame) -> DataFrame | None:
    """The embedded store's previous scorings as a Spark DataFrame (None when there are none)."""
    if previous is None or previous.empty:
        return None
    cols = ["account_id", *PREVIOUS_COLUMNS]
    frame = previous[cols].copy()
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    frame["model_version"] = frame["model_version"].astype(str)
    return session.createDataFrame(frame, spark_schema(cols))


__all__ = ["PREVIOUS_COLUMNS", "previous_on_spark", "read_scores_spark", "rewrite_scores_spark",
           "score_on_spark", "score_partitions",
           "spark_frame", "spark_schema", "write_scores_spark"]
