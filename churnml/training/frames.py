"""Training frames: the as-of dates to snapshot, features joined with labels, feature and label files, churn rate.

Shared by `churnml features`, `churnml labels`, training, the demo and the notebooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from churnml.config import FeaturesConfig, LabelsConfig, Settings
from churnml.data.sources import Tables
from churnml.features import FeatureSet, feature_set, finalise_frame
from churnml.features.calendar import date_range
from churnml.features.keys import KEYS, attach
from churnml.training.labels import labels_expr, observed_until


def training_dates(
    tables: Tables, every_days: int, horizon_days: int, history_days: int | None = None
) -> list[dt.date]:
    """Weekly snapshot dates over the data: from `history_days` after it starts (so look-back windows are
    full; default: `FeaturesConfig().history()`, set by `features.history_days`) to its end. The last dates
    have unobserved labels; they are kept for scoring and drift."""
    if history_days is None:
        history_days = FeaturesConfig().history()
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


def build_training_frame(
    tables: Tables,
    as_of: Sequence[dt.date | str],
    labels: LabelsConfig | None = None,
    until: dt.date | None = None,
    features: FeaturesConfig | None = None,
) -> tuple[pd.DataFrame, FeatureSet]:
    """Features joined with labels (`churned` nullable, `churn_date`) for training and backtests.

    Rows whose horizon has not passed at `until` (default: the end of the data) have `churned` null;
    `features` is the feature configuration (windows, words; default `FeaturesConfig()`).
    """
    cfg = labels or LabelsConfig()
    fs = feature_set(tables, as_of, cfg, features=features)
    until = until if until is not None else observed_until(tables)
    lab = labels_expr(tables, fs.dates, cfg, until=until)
    joined = attach(fs.table, lab, KEYS)
    df = finalise_frame(joined.to_pandas(), fs.specs)
    df["churned"] = df["churned"].astype("boolean")
    df["churn_date"] = pd.to_datetime(df["churn_date"])
    return df, fs


def mask_unobserved(frame: pd.DataFrame, as_of: dt.date, days: int) -> pd.DataFrame:
    """Null the labels whose horizon (plus grace, `days` in all) had not passed by `as_of`.

    Labels are computed from all the data; when training runs for a past week (a backfill) outcomes after
    `as_of` would leak into training. At the end of the data this changes nothing (those labels are already null).
    """
    out = frame.copy()
    late = pd.to_datetime(out["as_of"]) + pd.Timedelta(days=days) > pd.Timestamp(as_of)
    out.loc[late, "churned"] = pd.NA
    if "churn_date" in out.columns:
        out.loc[late, "churn_date"] = pd.NaT
    return out
