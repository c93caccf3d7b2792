"""Property: anything dated on or after an as-of date never changes that date's features.

Every feature of the default windows plus the lifetime block and money features (`value` declared as money),
with rows at exactly the as-of midnight (day-resolution data) among those appended.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import FeaturesConfig
from churnml.features import compute_features
from tests.support.tiny_world import frames, to_tables

ACCOUNTS = ["A1", "A2", "A3"]
AS_OF_CHOICES = [dt.date(2024, 1, 20), dt.date(2024, 3, 3), dt.date(2024, 4, 1)]

# seconds after the as-of midnight; whole days included (midnight of the as-of day itself, day resolution)
offsets = st.one_of(st.integers(min_value=0, max_value=200 * 86400), st.integers(0, 200).map(lambda d: d * 86400))
MONEY = FeaturesConfig(event_value={"meaning": "money", "unit": "USD"})

event_rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), offsets, st.sampled_from(["login", "export", "api_call"]),
              st.integers(1, 6)),
    max_size=8,
)
ticket_rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), offsets, st.one_of(st.none(), st.integers(1, 30 * 86400)),
              st.sampled_from(["low", "normal", "high", "urgent"]), st.one_of(st.none(), st.integers(1, 7)),
              st.booleans()),
    max_size=4,
)
survey_rows = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), offsets, st.sampled_from(["nps", "csat", "ces"]), st.integers(1, 5)),
    max_size=4,
)


def _append(dfs: dict[str, pd.DataFrame], as_of: dt.date, events, tickets, surveys) -> dict[str, pd.DataFrame]:
    base = pd.Timestamp(as_of)
    out = dict(dfs)
    if events:
        ev = pd.DataFrame(
            [(a, base + pd.Timedelta(seconds=o), t, u) for a, o, t, u in events],
            columns=["account_id", "ts", "event_type", "user_id"],
        )
        ev["value"] = 1.0
        out["events"] = pd.concat([dfs["events"], ev], ignore_index=True)
    if tickets:
        tk = pd.DataFrame(
            [
                (a, f"new{i}", base + pd.Timedelta(seconds=o),
                 None if c is None else base + pd.Timedelta(seconds=o + c), p,
                 None if e is None else float(e), r)
                for i, (a, o, c, p, e, r) in enumerate(tickets)
            ],
            columns=["account_id", "ticket_id", "opened_at", "closed_at", "priority", "effort_score", "reopened"],
        )
        out["tickets"] = pd.concat([dfs["tickets"], tk], ignore_index=True)
    if surveys:
        sv = pd.DataFrame(
            [(a, base + pd.Timedelta(seconds=o), k, float(s), 99) for a, o, k, s in surveys],
            columns=["account_id", "ts", "kind", "score", "respondent_id"],
        )
        out["surveys"] = pd.concat([dfs["surveys"], sv], ignore_index=True)
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(as_of=st.sampled_from(AS_OF_CHOICES), events=event_rows, tickets=ticket_rows, surveys=survey_rows)
def test_rows_on_or_after_as_of_never_change_features(as_of, events, tickets, surveys) -> None:
    dfs = frames()
    before = compute_features(to_tables(dfs), [as_of], features=MONEY)
    after = compute_features(to_tables(_append(dfs, as_of, events, tickets, surveys)), [as_of], features=MONEY)
    assert {"value_lifetime", "days_since_first_event", "days_since_last_ticket"} <= set(before.columns)
    pd.testing.assert_frame_equal(before, after, check_categorical=False)


def test_rows_before_as_of_do_change_features() -> None:
    """The property above must not hold trivially: an event the day before does change features."""
    as_of = dt.date(2024, 4, 1)
    dfs = frames()
    before = compute_features(to_tables(dfs), [as_of])
    after = compute_features(to_tables(_append(dfs, as_of - dt.timedelta(days=1), [("A2", 3600, "login", 1)],
                                                [], [])), [as_of])
    assert not before.equals(after)
    assert after.set_index("account_id").loc["A2", "events_7d"] == 1
