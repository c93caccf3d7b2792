"""Usage windows and the lifetime block equal a brute-force per-date computation, for any events and dates.

The engine computes windows as runs over as-of indices (deltas + running sums, runs without an end for the
lifetime) and distinct counts from activity bitmaps; this checks both against the definition itself: filter
[D - hi, D - lo) (or everything before D) and count, on random logs with repeated (account, ts, type) rows,
day-resolution timestamps and long gaps.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import FeaturesConfig
from churnml.features.usage import PER_DAY, PER_TYPE, PER_USER, per_day_names, usage_features

ACCOUNTS = ["A1", "A2", "A3"]
START = dt.date(2024, 1, 1)
CFG = FeaturesConfig(windows={"usage": [7, 30, 90, 180, 365, 400]}, event_value={"meaning": "money", "unit": "USD"})
WS = CFG.windows.usage
# lo, hi in days before the as-of date: rows with D - hi <= day < D - lo (lag in (lo, hi]).
COUNTS = {**{f"events_{w}d": (0, w) for w in WS}, "events_prev_30d": (30, 60)}
DAYS = {f"active_days_{w}d": (0, w) for w in WS}
USERS = {"active_users_7d": (0, 7), "active_users_30d": (0, 30), "active_users_prev_30d": (30, 60)}
TYPES = {"event_types_30d": (0, 30), "event_types_90d": (0, 90)}


def reference(events: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    """The definitions, one as-of date and one account at a time."""
    rows = []
    for d in dates:
        cut = pd.Timestamp(d)
        for a in ACCOUNTS:
            ev = events[events.account_id == a]
            row: dict[str, object] = {"account_id": a, "as_of": d}

            def window(lo: int, hi: int, ev: pd.DataFrame = ev, cut: pd.Timestamp = cut) -> pd.DataFrame:
                return ev[(ev.ts >= cut - pd.Timedelta(days=hi)) & (ev.ts < cut - pd.Timedelta(days=lo))]

            row |= {name: len(window(lo, hi)) for name, (lo, hi) in COUNTS.items()}
            row |= {name: window(lo, hi).ts.dt.normalize().nunique() for name, (lo, hi) in DAYS.items()}
            row |= {name: window(lo, hi).user_id.dropna().nunique() for name, (lo, hi) in USERS.items()}
            row |= {name: window(lo, hi).event_type.nunique() for name, (lo, hi) in TYPES.items()}
            row |= {f"value_{w}d": window(0, w).value.sum() for w in WS}
            row |= {f"value_mean_{w}d": _mean(window(0, w).value) for w in WS}
            row |= lifetime(ev[ev.ts < cut], cut)
            rows.append(row)
    return pd.DataFrame(rows)


def _mean(values: pd.Series) -> float:
    return values.sum() / len(values) if len(values) else np.nan


def lifetime(before: pd.DataFrame, cut: pd.Timestamp) -> dict[str, float]:
    """Lifetime features of one account from its events before the as-of date `cut`."""
    days = pd.Series(sorted(before.ts.dt.normalize().unique()), dtype="datetime64[ns]")
    row: dict[str, float] = {
        "events_lifetime": len(before),
        "active_days_lifetime": len(days),
        "active_weeks_lifetime": (days - pd.to_timedelta(days.dt.weekday, unit="D")).nunique(),
        "active_months_lifetime": days.dt.to_period("M").nunique(),
        "value_lifetime": before.value.sum(),
        "value_mean_lifetime": _mean(before.value),
    }
    if days.empty:
        return row | {k: np.nan for k in ["days_since_last_event", "days_since_first_event", "gap_days_mean_lifetime",
                                          "gap_days_latest", *[f"events_vs_history_{w}d" for w in WS]]}
    first, last = days.iloc[0], days.iloc[-1]
    row["days_since_last_event"] = (cut - last).days
    row["days_since_first_event"] = (cut - first).days
    row["gap_days_mean_lifetime"] = (last - first).days / (len(days) - 1) if len(days) > 1 else np.nan
    row["gap_days_latest"] = (last - days.iloc[-2]).days if len(days) > 1 else np.nan
    for w in WS:
        start = cut - pd.Timedelta(days=w)
        history, n_before = (start - first).days, int((before.ts < start).sum())
        recent = len(before) - n_before
        ok = history > 0 and n_before > 0
        row[f"events_vs_history_{w}d"] = recent / (n_before / history * w) if ok else np.nan
    return row


def compute(events: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    con = ibis.duckdb.connect()
    spine = ibis.memtable(
        pa.table({
            "account_id": [a for _ in dates for a in ACCOUNTS],
            "as_of": pa.array([d for d in dates for _ in ACCOUNTS], pa.date32()),
        })
    )
    ev = ibis.memtable(
        pa.Table.from_pandas(events[["account_id", "ts", "event_type", "user_id", "value"]], preserve_index=False)
        .cast(pa.schema([("account_id", pa.string()), ("ts", pa.timestamp("us")), ("event_type", pa.string()),
                         ("user_id", pa.int64()), ("value", pa.float64())]))
    )
    out = con.to_pandas(usage_features(spine, ev, dates, cfg=CFG))
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out


seconds = st.one_of(
    st.integers(min_value=0, max_value=800 * 86400 - 1),  # seconds after START: spans > one bitmap chunk
    st.integers(min_value=0, max_value=799).map(lambda d: d * 86400),  # day resolution: midnight
)
event_rows = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        seconds,
        st.sampled_from(["login", "export", "api_call", "report"]),
        st.one_of(st.none(), st.integers(1, 5)),
        st.integers(0, 100_000).map(lambda c: c / 100),  # money in cents
    ),
    max_size=60,
)
repeats = st.lists(st.integers(min_value=0, max_value=59), max_size=10)  # rows logged again (same account, ts, type)
as_of_days = st.lists(st.integers(min_value=0, max_value=820), min_size=1, max_size=8, unique=True)
CHECKED = [*COUNTS, *DAYS, *USERS, *TYPES, *(n for n in per_day_names(CFG) if n != "events_trend_30d")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, again=repeats, days=as_of_days)
def test_usage_windows_equal_brute_force(rows: list[tuple], again: list[int], days: list[int]) -> None:
    rows = rows + [rows[i] for i in again if i < len(rows)]
    events = pd.DataFrame(rows, columns=["account_id", "seconds", "event_type", "user_id", "value"])
    events["ts"] = pd.Timestamp(START) + pd.to_timedelta(events.pop("seconds"), unit="s")
    events["user_id"] = events["user_id"].astype("Int64")
    dates = sorted(START + dt.timedelta(days=d) for d in days)
    got = compute(events, dates).set_index(["account_id", "as_of"]).sort_index()
    want = reference(events, dates).set_index(["account_id", "as_of"]).sort_index()
    for name in CHECKED:
        pd.testing.assert_series_equal(got[name].astype(float), want[name].astype(float), check_names=False,
                                       obj=name, rtol=1e-9)


def test_every_per_day_feature_is_checked_against_the_reference() -> None:
    """The brute force covers each window and lifetime feature the configuration defines (none forgotten)."""
    assert set(per_day_names(CFG)) - {"events_trend_30d"} <= set(CHECKED)
    assert {"value_400d", "events_400d", "active_days_400d", "events_vs_history_400d"} <= set(CHECKED)


def test_as_of_dates_far_apart_use_several_bitmap_chunks() -> None:
    """Dates three years apart: each chunk of the distinct counts sees only its own events."""
    events = pd.DataFrame({
        "account_id": ["A1", "A1", "A1", "A2"],
        "ts": pd.to_datetime(["2021-01-10", "2022-06-01", "2024-01-05 08:00", "2024-01-06"], format="ISO8601"),
        "event_type": ["login", "export", "login", "report"],
        "user_id": pd.array([1, 2, 3, 1], "Int64"),
        "value": [1.0, 2.0, 3.0, 4.0],
    })
    dates = [dt.date(2021, 1, 20), dt.date(2022, 6, 15), dt.date(2024, 1, 7)]
    got = compute(events, dates).set_index(["account_id", "as_of"]).sort_index()
    want = reference(events, dates).set_index(["account_id", "as_of"]).sort_index()
    assert got.loc[("A1", dt.date(2022, 6, 15)), "active_users_30d"] == 1
    for name in [*USERS, *TYPES]:
        pd.testing.assert_series_equal(got[name].astype(float), want[name].astype(float), check_names=False)


def test_only_the_blocks_asked_for_are_computed() -> None:
    events = pd.DataFrame({
        "account_id": ["A1"], "ts": pd.to_datetime(["2024-01-05"]), "event_type": ["login"],
        "user_id": pd.array([1], "Int64"),
    })
    spine = ibis.memtable(pa.table({"account_id": ["A1"], "as_of": pa.array([dt.date(2024, 1, 7)], pa.date32())}))
    ev = ibis.memtable(events)
    cols = set(usage_features(spine, ev, [dt.date(2024, 1, 7)], wanted={"active_users_30d"}).columns)
    assert cols & {*PER_DAY, *PER_USER, *PER_TYPE} == {"active_users_30d"}
    trend = set(usage_features(spine, ev, [dt.date(2024, 1, 7)], wanted={"events_trend_30d"}).columns)
    assert trend & {*PER_DAY, *PER_USER, *PER_TYPE} == {"events_30d", "events_prev_30d", "events_trend_30d"}
