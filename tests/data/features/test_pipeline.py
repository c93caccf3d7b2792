"""Feature values on a hand-built world, checked against values computed by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from churnml.config import LabelsConfig
from churnml.features import available_specs, compute_features, feature_set, to_frame
from churnml.features.catalog import BY_NAME
from tests.support.tiny_world import AS_OF, frames, to_tables


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    df = compute_features(to_tables(frames()), [AS_OF])
    return df.set_index("account_id")


def test_population_excludes_churned_accounts(feats: pd.DataFrame) -> None:
    assert sorted(feats.index) == ["A1", "A2"]  # A3 lapsed in January


def test_usage_windows_by_hand(feats: pd.DataFrame) -> None:
    a1, a2 = feats.loc["A1"], feats.loc["A2"]
    # A1: 2 events every day of March; as-of April 1 -> last 7 days = Mar 25..31.
    assert (a1.events_7d, a1.events_30d, a1.events_90d, a1.events_prev_30d) == (14, 60, 62, 2)
    assert (a1.active_days_7d, a1.active_days_30d, a1.active_days_90d) == (7, 30, 31)
    assert a1.events_trend_30d == pytest.approx(30.0)
    assert a1.active_users_30d == 2 and a1.seat_utilisation_30d == pytest.approx(0.02)
    # A2's event at exactly 2024-04-01 00:00 is on the as-of date: excluded.
    assert (a2.events_30d, a2.events_90d, a2.days_since_last_event) == (0, 3, 41)
    assert a2.active_users_prev_30d == 1 and a2.active_users_trend_30d == 0.0
    assert (a2.event_types_30d, a2.event_types_90d) == (0, 1)


def test_support_ignores_closing_after_as_of(feats: pd.DataFrame) -> None:
    a2 = feats.loc["A2"]
    # T1 (urgent, opened Mar 1) closes Apr 3: still open at the as-of date, effort not yet known.
    assert (a2.tickets_open, a2.tickets_open_high_14d, a2.tickets_30d, a2.tickets_90d) == (2, 1, 1, 2)
    assert a2.high_priority_share_90d == pytest.approx(0.5)
    assert pd.isna(a2.effort_mean_90d) and pd.isna(a2.resolution_hours_90d)
    a1 = feats.loc["A1"]
    assert a1.effort_mean_90d == 2.0 and a1.resolution_hours_90d == pytest.approx(24.0)


def test_sentiment_by_hand(feats: pd.DataFrame) -> None:
    a1, a2 = feats.loc["A1"], feats.loc["A2"]
    assert (a2.nps_latest, a2.nps_previous, a2.nps_change) == (3.0, 8.0, -5.0)
    assert a2.nps_category == "detractor" and a1.nps_category == "promoter"
    assert a2.csat_mean_90d == 2.0
    # No CES survey and A1 has no previous NPS: missing, never imputed.
    assert pd.isna(a1.ces_mean_90d) and pd.isna(a1.nps_previous)
    assert (a2.survey_responses_180d, a2.days_since_last_survey) == (3, 17)


def test_commercial_and_team_by_hand(feats: pd.DataFrame) -> None:
    a1, a2 = feats.loc["A1"], feats.loc["A2"]
    assert (a2.mrr, a2.mrr_90d_ago, a2.mrr_change_90d) == (300.0, 500.0, -200.0)
    assert a2.mrr_change_pct_90d == pytest.approx(-0.4)
    assert (a2.plan, a2.contract_type, a2.days_to_renewal) == ("starter", "monthly", 0)
    assert (a1.tenure_days, a1.days_to_renewal, a1.contract_type) == (452, 278, "annual")
    assert (a1.csm_enps_90d, a2.csm_enps_90d) == (100.0, -50.0)
    assert (a1.account_age_days, a1.segment, a1.employees) == (456, "Enterprise", 500)


def test_every_feature_is_registered_and_typed(feats: pd.DataFrame) -> None:
    fs = feature_set(to_tables(frames()), [AS_OF], LabelsConfig())
    for spec in fs.specs:
        assert spec.name in feats.columns
        if spec.name in BY_NAME:
            assert spec.description and spec.theme
    for name in fs.categorical:
        assert isinstance(feats[name].dtype, pd.CategoricalDtype), name


def test_missing_optional_tables_give_absent_features_not_zeros() -> None:
    dfs = frames()
    for name in ("tickets", "surveys", "csm_enps"):
        del dfs[name]
    dfs["events"] = dfs["events"].drop(columns=["user_id"])
    tables = to_tables(dfs)
    df = compute_features(tables, [AS_OF])
    for absent in ("tickets_open", "nps_latest", "csm_enps_90d", "active_users_30d", "seat_utilisation_30d"):
        assert absent not in df.columns
    assert "events_30d" in df.columns
    names = {s.name for s in available_specs(tables)}
    assert "tickets_open" not in names and "events_30d" in names


def test_many_as_of_dates_match_single_date_runs() -> None:
    tables = to_tables(frames())
    dates = [dt.date(2024, 2, 15), AS_OF]
    both = compute_features(tables, dates)
    for d in dates:
        one = compute_features(to_tables(frames()), [d])
        part = both[both.as_of == pd.Timestamp(d)].reset_index(drop=True)
        # Per-event-type columns are chosen on the rows before the *first* date built (`top 10` by default): a
        # run starting on AS_OF also sees create_report, which the run starting on 2024-02-15 had not seen yet.
        extra = set(one.columns) - set(part.columns)
        assert extra == (set() if d == dates[0] else {"count_create_report_30d", "count_create_report_90d",
                                                      "share_create_report_30d", "share_create_report_90d",
                                                      "trend_create_report_30d"})
        assert set(part.columns) <= set(one.columns)
        pd.testing.assert_frame_equal(part, one[part.columns], check_categorical=False)


def test_only_computes_the_named_features_with_the_same_values(feats: pd.DataFrame) -> None:
    tables = to_tables(frames())
    names = ["active_users_30d", "seat_utilisation_30d", "nps_latest", "mrr"]
    fs = feature_set(tables, [AS_OF], LabelsConfig(), only=names)
    assert fs.names == [s.name for s in available_specs(tables) if s.name in names]
    some = to_frame(fs)
    assert list(some.columns) == ["account_id", "as_of", *fs.names]
    pd.testing.assert_frame_equal(some, feats.reset_index()[some.columns], check_categorical=False)


def test_only_rejects_unknown_names_and_lists_what_exists() -> None:
    tables = to_tables(frames())
    with pytest.raises(ValueError, match=r"unknown or unavailable feature\(s\) \['nps_lastest'\] \(did you mean "
                                          r"nps_latest\?\).*events_30d"):
        feature_set(tables, [AS_OF], LabelsConfig(), only=["nps_lastest"])


def test_features_cli_only_writes_just_those_columns(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from churnml.cli.app import app
    from tests.support.factories import write_dataset

    data = write_dataset(tmp_path / "data", frames())
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(app, ["features", "--data", str(data), "--as-of", str(AS_OF), "--out", str(out),
                                      "--only", "events_30d,nps_latest", "--no-labels"])
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(out).columns) == ["account_id", "as_of", "events_30d", "nps_latest"]
    labelled = CliRunner().invoke(app, ["features", "--data", str(data), "--as-of", str(AS_OF), "--out", str(out),
                                        "--only", "events_30d"])
    assert labelled.exit_code == 0, labelled.output
    assert "events_30d" in pd.read_parquet(out).columns  # labels go beside the features, never over them
    assert "churned" in pd.read_parquet(tmp_path / "f.labels.parquet").columns
    bad = CliRunner().invoke(app, ["features", "--data", str(data), "--as-of", str(AS_OF), "--out", str(out),
                                   "--only", "nope", "--no-labels"])
    assert bad.exit_code != 0 and "nope" in bad.output


def test_account_and_csm_names_are_shown_never_features() -> None:
    """`accounts.name` (and the `csms` table) name accounts on the page; a name must not become a feature."""
    dfs = frames()
    dfs["accounts"] = dfs["accounts"].assign(name=[f"Company {i}" for i in range(len(dfs["accounts"]))])
    dfs["csms"] = pd.DataFrame({"csm_id": dfs["accounts"]["csm_id"].dropna().unique()}).assign(name="Ana Berg")
    fs = feature_set(to_tables(dfs), [AS_OF], LabelsConfig())
    assert "name" not in {s.name for s in fs.specs} and "name" not in to_frame(fs).columns
