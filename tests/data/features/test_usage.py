"""Usage windows equal a brute-force per-date computation, for any events and any as-of dates.

The engine computes windows as runs over as-of indices (deltas + running sums) and distinct counts from
activity bitmaps; this checks both against the definition itself: filter [D - hi, D - lo) and count.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.features.usage import PER_DAY, PER_TYPE, PER_USER, usage_features

ACCOUNTS = ["A1", "A2", "A3"]
START = dt.date(2024, 1, 1)
# lo, hi in days before the as-of date: rows with D - hi <= day < D - lo (lag in (lo, hi]).
COUNTS = {"events_7d": (0, 7), "events_30d": (0, 30), "events_90d": (0, 90), "events_prev_30d": (30, 60)}
DAYS = {"active_days_7d": (0, 7), "active_days_30d": (0, 30), "active_days_90d": (0, 90)}
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
            last = window(0, 90).ts.max()
            row["days_since_last_event"] = np.nan if pd.isna(last) else (cut.normalize() - last.normalize()).days
            rows.append(row)
    return pd.DataFrame(rows)


def compute(events: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    con = ibis.duckdb.connect()
    spine = ibis.memtable(
        pa.table({
            "account_id": [a for _ in dates for a in ACCOUNTS],
            "as_of": pa.array([d for d in dates for _ in ACCOUNTS], pa.date32()),
        })
    )
    ev = ibis.memtable(
        pa.Table.from_pandas(events[["account_id", "ts", "event_type", "user_id"]], preserve_index=False).cast(
            pa.schema([("account_id", pa.string()), ("ts", pa.timestamp("us")), ("event_type", pa.string()),
                       ("user_id", pa.int64())])
        )
    )
    out = con.to_pandas(usage_features(spine, ev, dates))
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out


event_rows = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.integers(min_value=0, max_value=800 * 86400 - 1),  # seconds after START: spans > one bitmap chunk
        st.sampled_from(["login", "export", "api_call", "report"]),
        st.one_of(st.none(), st.integers(1, 5)),
    ),
    max_size=60,
)
as_of_days = st.lists(st.integers(min_value=0, max_value=820), min_size=1, max_size=8, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, days=as_of_days)
def test_usage_windows_equal_brute_force(rows: list[tuple], days: list[int]) -> None:
    events = pd.DataFrame(rows, columns=["account_id", "seconds", "event_type", "user_id"])
    events["ts"] = pd.Timestamp(START) + pd.to_timedelta(events.pop("seconds"), unit="s")
    events["user_id"] = events["user_id"].astype("Int64")
    dates = sorted(START + dt.timedelta(days=d) for d in days)
    got = compute(events, dates).set_index(["account_id", "as_of"]).sort_index()
    want = reference(events, dates).set_index(["account_id", "as_of"]).sort_index()
    for name in [*COUNTS, *DAYS, *USERS, *TYPES, "days_since_last_event"]:
        pd.testing.assert_series_equal(got[name].astype(float), want[name].astype(float), check_names=False,
                                       obj=name)


def test_as_of_dates_far_apart_use_several_bitmap_chunks() -> None:
    """Dates three years apart: each chunk of the distinct counts sees only its own events."""
    events = pd.DataFrame({
        "account_id": ["A1", "A1", "A1", "A2"],
        "ts": pd.to_datetime(["2021-01-10", "2022-06-01", "2024-01-05 08:00", "2024-01-06"], format="ISO8601"),
        "event_type": ["login", "export", "login", "report"],
        "user_id": pd.array([1, 2, 3, 1], "Int64"),
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
