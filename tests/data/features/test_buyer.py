"""BG/NBD features: summaries equal a brute-force computation, and nothing on or after an as-of date moves them."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import BuyerFeaturesConfig, FeaturesConfig, LabelsConfig
from churnml.features.buyer import EXPECTED, P_ALIVE, buyer_features, buyer_summary
from churnml.features.pipeline import feature_set, to_frame
from tests.support.tiny_world import AS_OF, frames, to_tables

ACCOUNTS = [f"C{i}" for i in range(6)]
START = dt.date(2024, 1, 1)
LABELS = LabelsConfig(kind="non_contractual", horizon_days=60)
CFG = BuyerFeaturesConfig(min_customers=2)


def _table(events: pd.DataFrame) -> ibis.Table:
    return ibis.memtable(pa.Table.from_pandas(events[["account_id", "ts"]], preserve_index=False).cast(
        pa.schema([("account_id", pa.string()), ("ts", pa.timestamp("us"))])))


def _events(rows: list[tuple[str, int]]) -> pd.DataFrame:
    ev = pd.DataFrame(rows, columns=["account_id", "seconds"])
    ev["ts"] = pd.Timestamp(START) + pd.to_timedelta(ev.pop("seconds"), unit="s")
    return ev


def _spine(dates: list[dt.date]) -> ibis.Table:
    return ibis.memtable(pa.table({
        "account_id": [a for _ in dates for a in ACCOUNTS],
        "as_of": pa.array([d for d in dates for _ in ACCOUNTS], pa.date32()),
    }))


def _features(events: pd.DataFrame, dates: list[dt.date]) -> pd.DataFrame:
    out = buyer_features(_spine(dates), _table(events), dates, LABELS, CFG).to_pandas()
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out.sort_values(["account_id", "as_of"]).reset_index(drop=True)


# Whole days half the time (ties, day-resolution logs), gaps up to a year.
seconds = st.one_of(st.integers(0, 500).map(lambda d: d * 86400), st.integers(0, 500 * 86400 - 1))
event_rows = st.lists(st.tuples(st.sampled_from(ACCOUNTS), seconds), min_size=1, max_size=50)
as_of_days = st.lists(st.integers(min_value=1, max_value=520), min_size=1, max_size=6, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, days=as_of_days)
def test_summary_equals_brute_force(rows: list[tuple], days: list[int]) -> None:
    events = _events(rows)
    dates = sorted(START + dt.timedelta(days=d) for d in days)
    got = buyer_summary(_table(events), dates).to_pandas()
    got["as_of"] = pd.to_datetime(got["as_of"]).dt.date
    want = []
    for d in dates:
        seen = events[events.ts < pd.Timestamp(d)]
        for a, g in seen.groupby("account_id"):
            active = sorted(set(g.ts.dt.date))
            want.append({"account_id": a, "as_of": d, "x": len(active) - 1, "t_x": (active[-1] - active[0]).days,
                         "T": (d - active[0]).days})
    key = ["account_id", "as_of"]
    want_df = pd.DataFrame(want, columns=[*key, "x", "t_x", "T"]).sort_values(key).reset_index(drop=True)
    got = got[want_df.columns].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.astype({c: "int64" for c in ("x", "t_x", "T")}), want_df, check_dtype=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, days=as_of_days, pick=st.integers(0, 5), future=st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, 300 * 86400)), min_size=1, max_size=20))
def test_rows_on_or_after_the_as_of_date_never_change_its_features(rows, days, pick, future) -> None:
    events = _events(rows)
    dates = sorted(START + dt.timedelta(days=d) for d in days)
    cut = dates[pick % len(dates)]
    later = pd.DataFrame(future, columns=["account_id", "seconds"])
    later["ts"] = pd.Timestamp(cut) + pd.to_timedelta(later.pop("seconds"), unit="s")
    before = _features(events, dates)
    after = _features(pd.concat([events, later], ignore_index=True), dates)
    upto = [d for d in dates if d <= cut]
    pd.testing.assert_frame_equal(before[before.as_of.isin(upto)].reset_index(drop=True),
                                  after[after.as_of.isin(upto)].reset_index(drop=True))


def test_a_row_the_day_before_does_change_them() -> None:
    """The property above must not hold trivially."""
    rows = [(a, d * 86400) for a in ACCOUNTS for d in (0, 10 + ACCOUNTS.index(a), 30)]
    events, dates = _events(rows), [START + dt.timedelta(days=60)]
    before = _features(events, dates)
    after = _features(pd.concat([events, _events([("C0", 58 * 86400)])], ignore_index=True), dates)
    assert before[P_ALIVE].notna().all()
    assert not np.allclose(before[P_ALIVE], after[P_ALIVE])


def test_long_silence_lowers_p_alive_and_expected_activity() -> None:
    """Frequent buyers, weekly for 20 weeks; half stop after week 5. As of week 21 the silent half is less alive."""
    rows = [(f"B{i}", (7 * w + i % 3) * 86400) for i in range(40) for w in range(20 if i % 2 else 5)]
    events = _events(rows)
    d = START + dt.timedelta(days=147)
    spine = ibis.memtable(pa.table({"account_id": [f"B{i}" for i in range(40)], "as_of": pa.array([d] * 40,
                                                                                                   pa.date32())}))
    out = buyer_features(spine, _table(events), [d], LABELS, CFG).to_pandas()
    busy = out.account_id.str[1:].astype(int) % 2 == 1
    assert out.loc[busy, P_ALIVE].min() > 0.8 > 0.2 > out.loc[~busy, P_ALIVE].max()
    assert out.loc[busy, EXPECTED].min() > 3 * out.loc[~busy, EXPECTED].max()


def test_pipeline_auto_is_on_for_non_contractual_only_and_fresh_equals_batch() -> None:
    tables = to_tables(frames())
    small = FeaturesConfig(buyer=CFG)
    assert P_ALIVE not in feature_set(tables, [AS_OF], LabelsConfig(), features=small).names
    assert P_ALIVE in feature_set(tables, [AS_OF], LabelsConfig(), features=small.model_copy(
        update={"buyer": CFG.model_copy(update={"mode": "on"})})).names
    fs = feature_set(tables, [AS_OF], LABELS, features=small)
    assert {P_ALIVE, EXPECTED} <= set(fs.names)
    assert next(s for s in fs.specs if s.name == EXPECTED).description.startswith("Expected active days in the next 60")
    batch = to_frame(fs).set_index("account_id")
    one = to_frame(feature_set(tables, [AS_OF], LABELS, accounts=["A1"], features=small)).set_index("account_id")
    assert batch.loc["A1", P_ALIVE] == one.loc["A1", P_ALIVE] and batch.loc["A1", P_ALIVE] > 0.5
    off = FeaturesConfig(buyer="off")
    assert P_ALIVE not in feature_set(tables, [AS_OF], LABELS, features=off).names


def test_no_history_before_any_date_gives_nulls_not_an_error() -> None:
    events = _events([("C0", 100 * 86400)])
    out = _features(events, [START + dt.timedelta(days=10), START + dt.timedelta(days=50)])
    assert len(out) == 2 * len(ACCOUNTS) and out[P_ALIVE].isna().all() and out[EXPECTED].isna().all()
