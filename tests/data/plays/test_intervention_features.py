"""Intervention features are point in time: a play is never seen at an as-of date before its timestamp."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.data.contract import TABLES
from churnml.features import compute_features
from tests.support.tiny_world import AS_OF, frames, to_tables


def _with_plays(rows: list[tuple[str, str]]) -> dict[str, pd.DataFrame]:
    dfs = frames()
    dfs["interventions"] = pd.DataFrame(
        {"account_id": [a for a, _ in rows], "ts": pd.to_datetime([t for _, t in rows]),
         "play": ["adoption_session"] * len(rows), "csm_id": ["C1"] * len(rows), "outcome": ["done"] * len(rows)}
    )
    return dfs


def test_interventions_is_an_optional_contract_table() -> None:
    spec = TABLES["interventions"]
    assert not spec.required and spec.column_names == ("account_id", "ts", "play", "csm_id", "outcome")


def test_counts_and_recency_by_hand() -> None:
    # AS_OF is 2024-04-01: a play at exactly midnight of the as-of date is not yet visible.
    rows = [("A1", "2023-12-15 10:00"), ("A1", "2024-03-20 09:00"), ("A1", "2024-04-01 00:00"),
            ("A2", "2024-05-01 10:00")]
    f = compute_features(to_tables(_with_plays(rows)), [AS_OF]).set_index("account_id")
    assert f.loc["A1", "plays_90d"] == 1  # Dec 15 is 108 days back
    assert f.loc["A1", "days_since_last_play"] == 12
    assert f.loc["A2", "plays_90d"] == 0 and pd.isna(f.loc["A2", "days_since_last_play"])


def test_no_table_no_features() -> None:
    f = compute_features(to_tables(frames()), [AS_OF])
    assert "plays_90d" not in f.columns and "days_since_last_play" not in f.columns


@settings(max_examples=8, deadline=None)
@given(offsets=st.lists(st.integers(-200 * 24, 60 * 24), min_size=1, max_size=6, unique=True))
def test_a_play_is_never_seen_before_its_timestamp(offsets: list[int]) -> None:
    as_of = pd.Timestamp(AS_OF)
    stamps = [as_of + pd.Timedelta(hours=h) for h in offsets]
    dates = [AS_OF, AS_OF - dt.timedelta(days=30), AS_OF + dt.timedelta(days=20)]
    f = compute_features(to_tables(_with_plays([("A1", str(s)) for s in stamps])), dates)
    for row in f[f.account_id == "A1"].itertuples():
        cut = pd.Timestamp(row.as_of)
        seen = [s for s in stamps if s < cut and s >= cut - pd.Timedelta(days=365)]
        assert row.plays_90d == sum(s >= cut - pd.Timedelta(days=90) for s in seen)
        if seen:
            assert row.days_since_last_play == -(-(cut - max(seen)).total_seconds() // 86400)
        else:
            assert pd.isna(row.days_since_last_play)
