"""Per-event-type features equal a brute-force pandas computation; types are chosen without looking ahead.

The engine computes every type's windows in one pass (`usage.windowed_sums`); the reference filters
[D - hi, D - lo) per account, date and type and counts — on random logs with repeated timestamps, odd type names
and gaps longer than every window.
"""

from __future__ import annotations

import datetime as dt
import logging

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import EventTypeFeaturesConfig, FeaturesConfig, LabelsConfig
from churnml.features.event_types import (
    choose_types,
    event_type_features,
    is_per_type,
    plan_event_types,
    safe_names,
    type_specs,
)
from churnml.features.pipeline import feature_set, to_frame
from tests.support.tiny_world import AS_OF, frames, to_tables

ACCOUNTS = ["A1", "A2", "A3"]
START = dt.date(2024, 1, 1)
TYPES = ["Like!", "like", "un friend", "new-friend"]


def _events_table(events: pd.DataFrame) -> ibis.Table:
    return ibis.memtable(pa.Table.from_pandas(events[["account_id", "ts", "event_type"]], preserve_index=False).cast(
        pa.schema([("account_id", pa.string()), ("ts", pa.timestamp("us")), ("event_type", pa.string())])))


def _spine(dates: list[dt.date]) -> ibis.Table:
    return ibis.memtable(pa.table({
        "account_id": [a for _ in dates for a in ACCOUNTS],
        "as_of": pa.array([d for d in dates for _ in ACCOUNTS], pa.date32()),
    }))


def _div(num: float, den: float) -> float:
    return num / den if den > 0 else np.nan


def reference(events: pd.DataFrame, dates: list[dt.date], cfg: EventTypeFeaturesConfig,
              types: list[str]) -> pd.DataFrame:
    """The definitions, one account, date and type at a time."""
    col = safe_names([*types, *[t for pair in cfg.ratios for t in pair]])
    rows = []
    for d in dates:
        cut = pd.Timestamp(d)
        for a in ACCOUNTS:
            ev = events[events.account_id == a]

            def n(lo: int, hi: int, t: str | None = None, ev: pd.DataFrame = ev, cut: pd.Timestamp = cut) -> int:
                w = ev[(ev.ts >= cut - pd.Timedelta(days=hi)) & (ev.ts < cut - pd.Timedelta(days=lo))]
                return len(w) if t is None else int((w.event_type == t).sum())

            row: dict[str, object] = {"account_id": a, "as_of": d}
            for t in types:
                for w in cfg.windows:
                    row[f"count_{col[t]}_{w}d"] = n(0, w, t)
                    row[f"share_{col[t]}_{w}d"] = _div(n(0, w, t), n(0, w))
                row[f"trend_{col[t]}_30d"] = _div(n(0, 30, t), n(30, 60, t))
            for x, y in cfg.ratios:
                for w in cfg.windows:
                    row[f"ratio_{col[x]}_{col[y]}_{w}d"] = _div(n(0, w, x), n(0, w, y))
            rows.append(row)
    return pd.DataFrame(rows)


def compute(events: pd.DataFrame, dates: list[dt.date], cfg: EventTypeFeaturesConfig) -> tuple[pd.DataFrame, list]:
    ev = _events_table(events)
    plan = plan_event_types(ev, dates, cfg, {})
    assert plan is not None
    out = ibis.duckdb.connect().to_pandas(event_type_features(_spine(dates), ev, dates, plan))
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out, list(plan.types)


event_rows = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        # whole days half the time: ties on (account, ts, type), and day-resolution logs
        st.one_of(st.integers(0, 400).map(lambda d: d * 86400), st.integers(0, 400 * 86400 - 1)),
        st.sampled_from(TYPES),
    ),
    min_size=1, max_size=60,
)
as_of_days = st.lists(st.integers(min_value=0, max_value=420), min_size=1, max_size=6, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, days=as_of_days, windows=st.sampled_from([[30, 90], [7, 45], [60]]))
def test_per_type_features_equal_brute_force(rows: list[tuple], days: list[int], windows: list[int]) -> None:
    events = pd.DataFrame(rows, columns=["account_id", "seconds", "event_type"])
    events["ts"] = pd.Timestamp(START) + pd.to_timedelta(events.pop("seconds"), unit="s")
    events = pd.concat([events, events.head(3)], ignore_index=True)  # exact repeats are real events too
    dates = sorted(START + dt.timedelta(days=d) for d in days)
    present = sorted(set(events.event_type))
    cfg = EventTypeFeaturesConfig(select=present, windows=windows, ratios=[(present[0], present[-1])])
    got, types = compute(events, dates, cfg)
    want = reference(events, dates, cfg, types)
    got = got.set_index(["account_id", "as_of"]).sort_index()
    want = want.set_index(["account_id", "as_of"]).sort_index()
    assert sorted(got.columns) == sorted(want.columns)
    for name in want.columns:
        pd.testing.assert_series_equal(got[name].astype(float), want[name].astype(float), check_names=False, obj=name)


def test_top_n_counts_only_rows_before_the_first_date() -> None:
    """Rows on or after the first as-of date never change which types are chosen (nor 'all')."""
    first = dt.date(2024, 3, 1)
    before = pd.DataFrame({
        "account_id": ["A1"] * 6, "event_type": ["a", "a", "a", "b", "b", "c"],
        "ts": pd.to_datetime(["2024-02-01"] * 6),
    })
    later = pd.DataFrame({"account_id": ["A1"] * 10, "event_type": ["c"] * 9 + ["d"],
                          "ts": pd.to_datetime(["2024-03-01"] * 10)})
    both = pd.concat([before, later], ignore_index=True)
    for select, want in (("top 2", ["a", "b"]), ("all", ["a", "b", "c"])):
        cfg = EventTypeFeaturesConfig(select=select)
        assert choose_types(_events_table(before), [first], cfg) == want
        assert choose_types(_events_table(both), [first, dt.date(2024, 4, 1)], cfg) == want


def test_all_is_capped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    events = pd.DataFrame({"account_id": "A1", "event_type": [f"sku{i:03d}" for i in range(30) for _ in range(i + 1)],
                           "ts": pd.Timestamp("2024-01-01")})
    with caplog.at_level(logging.WARNING):
        chosen = choose_types(_events_table(events), [dt.date(2024, 2, 1)], EventTypeFeaturesConfig(
            select="all", max_types=5))
    assert chosen == ["sku029", "sku028", "sku027", "sku026", "sku025"]
    assert "has 30 values" in caplog.text and "keeps the 5 most frequent" in caplog.text and "drops 25" in caplog.text


def test_listed_type_that_never_occurs_is_refused() -> None:
    events = pd.DataFrame({"account_id": ["A1"], "event_type": ["unfriend"], "ts": [pd.Timestamp("2024-01-01")]})
    with pytest.raises(ValueError, match=r"'unfrend' \(did you mean 'unfriend'\?\)"):
        choose_types(_events_table(events), [dt.date(2024, 2, 1)], EventTypeFeaturesConfig(select=["unfrend"]))


def test_safe_names_are_column_names_and_distinct() -> None:
    names = safe_names(["Like!", "like", "un friend", "", "Über-Große"])
    assert names["un friend"] == "un_friend" and names[""] == "type"
    assert len(set(names.values())) == 5 and {names["Like!"], names["like"]} == {"like", "like_2"}
    assert all(n.replace("_", "").isalnum() and n.isascii() for n in names.values())


def test_select_config_is_checked() -> None:
    assert EventTypeFeaturesConfig(select="Top  5").select == "top 5"
    for bad in ("top", "top 0", "most", []):
        with pytest.raises(ValueError, match="event_types"):
            EventTypeFeaturesConfig(select=bad)


def test_pipeline_adds_per_type_columns_with_display_names() -> None:
    """tiny world: A1 logs in and creates a report every day of March; as of 1 April each has 30 in 30 days."""
    cfg = FeaturesConfig(event_type_names={"login": "logins"},
                         event_types={"select": "top 2", "ratios": [["login", "create_report"]]})
    fs = feature_set(to_tables(frames()), [AS_OF], LabelsConfig(), features=cfg)
    df = to_frame(fs).set_index("account_id")
    assert df.loc["A1", "count_login_30d"] == 30 and df.loc["A1", "count_create_report_90d"] == 31
    assert df.loc["A1", "share_login_30d"] == 0.5 and df.loc["A1", "ratio_login_create_report_90d"] == 1.0
    assert df.loc["A1", "trend_login_30d"] == 30.0  # 30 logins against one (1 March, lag 31)
    assert df.loc["A2", "trend_login_30d"] == 0.0  # three logins 41-60 days back, none since
    assert df.loc["A2", "count_login_90d"] == 3
    assert np.isnan(df.loc["A2", "share_login_30d"])  # no activity in 30 days: no share, not 0
    spec = {s.name: s for s in fs.specs}
    assert spec["count_login_30d"].description == "Logins in the last 30 days"
    assert spec["share_login_90d"].description == "Share of activity that is logins, last 90 days"
    assert spec["count_create_report_30d"].description == '"create_report" events in the last 30 days'
    only = feature_set(to_tables(frames()), [AS_OF], LabelsConfig(), only=["ratio_login_create_report_30d"],
                       features=cfg)
    assert only.names == ["ratio_login_create_report_30d"]
    assert to_frame(only).set_index("account_id").loc["A1", "ratio_login_create_report_30d"] == 1.0


def test_default_config_uses_the_top_ten_event_types() -> None:
    """On by default (`select: top 10`), chosen before the first date: the tiny world's two types by then."""
    assert EventTypeFeaturesConfig().select == "top 10"
    fs = feature_set(to_tables(frames()), [AS_OF], LabelsConfig())
    per_type = {n for n in fs.names if n.startswith(("count_", "share_", "trend_", "ratio_"))}
    assert per_type == {f"{k}_{t}_{w}d" for t in ("login", "create_report") for k in ("count", "share")
                        for w in (30, 90)} | {"trend_login_30d", "trend_create_report_30d"}


def test_select_none_adds_no_per_type_columns() -> None:
    cfg = FeaturesConfig(event_types=EventTypeFeaturesConfig(select="none"))
    fs = feature_set(to_tables(frames()), [AS_OF], LabelsConfig(), features=cfg)
    assert not [n for n in fs.names if n.startswith(("count_", "share_", "trend_", "ratio_"))]


def test_windows_of_a_year_count_the_whole_year() -> None:
    as_of = dt.date(2024, 2, 1)
    events = pd.DataFrame({"account_id": ["A1", "A1", "A1"], "event_type": ["like"] * 3,
                           "ts": pd.to_datetime(["2023-01-15", "2023-03-01", "2024-01-01"])})
    cfg = EventTypeFeaturesConfig(select="all", windows=[30, 365])
    table = _events_table(events)
    plan = plan_event_types(table, [as_of], cfg, {})
    assert plan is not None
    out = event_type_features(_spine([as_of]), table, [as_of], plan).to_pyarrow().to_pandas()
    a1 = out[out.account_id == "A1"].iloc[0]
    assert a1["count_like_365d"] == 2  # 2023-01-15 is 382 days back: outside
    assert a1["count_like_30d"] == 0  # 2024-01-01 is 31 days back


def test_scoring_keeps_the_model_s_event_types_when_volumes_change() -> None:
    """`top 1` chose "alpha" before training; by the scoring date "beta" leads: the model's columns stay."""
    dfs = frames()
    ev = dfs["events"]
    late = ev.iloc[[0] * 40].copy()
    late["event_type"] = "beta"
    late["ts"] = pd.Timestamp(AS_OF) - pd.Timedelta(days=3)
    early = ev.iloc[[0] * 5].copy()
    early["event_type"] = "alpha"
    early["ts"] = pd.Timestamp("2023-12-01")
    dfs["events"] = pd.concat([ev.assign(event_type="gamma"), early, late], ignore_index=True)
    tables = to_tables(dfs)
    cfg = FeaturesConfig(event_types=EventTypeFeaturesConfig(select="top 1", windows=[30]))
    trained = feature_set(tables, [dt.date(2024, 1, 1)], LabelsConfig(), features=cfg)
    model_cols = [n for n in trained.names if n.endswith("alpha_30d")]
    assert model_cols == ["count_alpha_30d", "share_alpha_30d", "trend_alpha_30d"]
    again = feature_set(tables, [AS_OF], LabelsConfig(), features=cfg)
    assert "count_alpha_30d" not in again.names  # chosen afresh: another type leads by then
    scored = feature_set(tables, [AS_OF], LabelsConfig(), features=cfg, model_features=[*trained.names])
    per_type = [n for n in scored.names if n.startswith(("count_", "share_", "trend_"))]
    assert per_type == model_cols
    a1 = to_frame(scored).set_index("account_id").loc["A1"]
    assert a1["count_alpha_30d"] == 0  # alpha's events are older than 30 days at the scoring date
    assert "events_30d" in scored.names  # every other feature is computed as usual


@pytest.mark.parametrize("now", [
    EventTypeFeaturesConfig(select="none"),
    EventTypeFeaturesConfig(select=["gamma"], windows=[90]),
    EventTypeFeaturesConfig(select="top 1", windows=[7]),
])
def test_a_model_scores_with_its_own_types_whatever_the_config_says_now(now: EventTypeFeaturesConfig) -> None:
    """Trained on 2024-02-15 with `top 2` (alpha, gamma), windows [30]; the config changed since: the model's
    columns are computed all the same, equal to a fresh build with the training config, and nothing more."""
    dfs = frames()
    ev = dfs["events"]
    early = ev.iloc[[0] * 400].copy()
    early["event_type"] = "alpha"
    early["ts"] = pd.Timestamp("2023-12-01")
    dfs["events"] = pd.concat([ev.assign(event_type="gamma"), early], ignore_index=True)
    tables = to_tables(dfs)
    then = FeaturesConfig(event_types=EventTypeFeaturesConfig(select="top 2", windows=[30]))
    trained = feature_set(tables, [dt.date(2024, 2, 15)], LabelsConfig(), features=then)
    model_cols = [n for n in trained.names if n.startswith(("count_", "share_", "trend_"))]
    assert sorted(model_cols) == sorted(f"{k}_{t}_30d" for k in ("count", "share", "trend") for t in ("alpha", "gamma"))
    cfg = FeaturesConfig(event_types=now)
    scored = feature_set(tables, [AS_OF], LabelsConfig(), features=cfg, model_features=[*trained.names])
    # by name, never by position: the order may follow the volumes at the scoring date
    assert sorted(n for n in scored.names if n.startswith(("count_", "share_", "trend_"))) == sorted(model_cols)
    want = to_frame(feature_set(tables, [AS_OF], LabelsConfig(), features=then)).set_index("account_id")[model_cols]
    got = to_frame(scored).set_index("account_id")[model_cols]
    pd.testing.assert_frame_equal(got, want)


def test_a_model_without_per_type_columns_gets_none_under_a_per_type_default() -> None:
    trained = feature_set(to_tables(frames()), [dt.date(2024, 1, 1)], LabelsConfig())
    trained_names = [n for n in trained.names if not n.startswith(("count_", "share_", "trend_"))]
    cfg = FeaturesConfig(event_types=EventTypeFeaturesConfig(select="top 10"))
    scored = feature_set(to_tables(frames()), [AS_OF], LabelsConfig(), features=cfg, model_features=trained_names)
    assert not [n for n in scored.names if n.startswith(("count_", "share_", "trend_", "ratio_"))]


def test_per_type_names_are_told_apart_from_the_catalog() -> None:
    """`is_per_type` (scoring keeps a model's per-type columns by it) knows every name `type_specs` gives, in any
    window, and none of the catalog's own features."""
    from churnml.features.pipeline import available_specs

    types = ["newfriend", "un friend"]
    specs = type_specs(types, safe_names(types), [7, 30, 365], [("un friend", "newfriend")], {})
    assert specs and all(is_per_type(s.name) for s in specs)
    cfg = FeaturesConfig(event_value={"meaning": "money", "unit": "USD"}, event_types={"select": "none"})
    catalog = available_specs(to_tables(frames()), cfg)
    assert catalog and not [s.name for s in catalog if is_per_type(s.name)]
