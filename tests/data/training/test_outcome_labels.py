"""Revenue outcome labels on hand-made subscriptions: downgrade, upgrade, lapse, reactivation within grace."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnml.config import ForecastConfig, LabelsConfig
from churnml.features.calendar import normalise_dates
from churnml.training.labels import labels_expr, outcome_labels_expr
from tests.support.tiny_world import subscription_world, to_tables

D = dt.date
CFG = LabelsConfig(horizon_days=90, grace_days=14)
AS_OF = D(2024, 2, 1)  # horizon date 2024-05-01
OPEN = None


def _outcomes(subs: list[tuple[str, D, D | None, float]], **kw: str) -> pd.DataFrame:
    tables = to_tables(subscription_world(subs, **kw))
    df = outcome_labels_expr(tables, normalise_dates([AS_OF]), CFG, ForecastConfig()).to_pandas()
    return df.set_index("account_id").sort_index()


SUBS = [
    ("down", D(2023, 1, 1), D(2024, 3, 1), 100.0),  # seats cut in March: 100 -> 50
    ("down", D(2024, 3, 2), OPEN, 50.0),
    ("up", D(2023, 1, 1), D(2024, 3, 1), 100.0),  # upgrade: 100 -> 150
    ("up", D(2024, 3, 2), OPEN, 150.0),
    ("lapse", D(2023, 1, 1), D(2024, 3, 1), 100.0),  # gone for good
    ("back", D(2023, 1, 1), D(2024, 4, 25), 100.0),  # lapse of 9 days over the horizon date, back at 100
    ("back", D(2024, 5, 5), OPEN, 100.0),
    ("back_less", D(2023, 1, 1), D(2024, 4, 25), 100.0),  # same lapse, back on a smaller plan
    ("back_less", D(2024, 5, 5), OPEN, 60.0),
    ("late_back", D(2023, 1, 1), D(2024, 3, 1), 100.0),  # back after 60 days: churned, not a downgrade
    ("late_back", D(2024, 5, 1), OPEN, 40.0),
    ("small", D(2023, 1, 1), D(2024, 3, 1), 100.0),  # 100 -> 95: inside the thresholds
    ("small", D(2024, 3, 2), OPEN, 95.0),
    ("two", D(2023, 1, 1), OPEN, 100.0),  # two subscriptions, one ends: 150 -> 100
    ("two", D(2023, 6, 1), D(2024, 3, 1), 50.0),
    ("free", D(2023, 1, 1), D(2024, 3, 1), 0.0),  # free plan that starts paying
    ("free", D(2024, 3, 2), OPEN, 30.0),
]


@pytest.fixture(scope="module")
def out() -> pd.DataFrame:
    return _outcomes(SUBS)


@pytest.mark.parametrize(
    ("account", "churned", "contracted", "expanded", "mrr_h"),
    [
        ("down", False, True, False, 50.0),
        ("up", False, False, True, 150.0),
        ("lapse", True, False, False, 0.0),
        ("back", False, False, False, 100.0),
        ("back_less", False, True, False, 60.0),
        ("late_back", True, False, False, 0.0),
        ("small", False, False, False, 95.0),
        ("two", False, True, False, 100.0),
        ("free", False, False, True, 30.0),
    ],
)
def test_outcome_of_each_account(
    out: pd.DataFrame, account: str, churned: bool, contracted: bool, expanded: bool, mrr_h: float
) -> None:
    row = out.loc[account]
    assert (bool(row["churned"]), bool(row["contracted"]), bool(row["expanded"])) == (churned, contracted, expanded)
    assert row["mrr_horizon"] == pytest.approx(mrr_h)


def test_churn_column_is_the_churn_label(out: pd.DataFrame) -> None:
    tables = to_tables(subscription_world(SUBS))
    churn = labels_expr(tables, normalise_dates([AS_OF]), CFG).to_pandas().set_index("account_id").sort_index()
    pd.testing.assert_series_equal(out["churned"].astype(bool), churn["churned"].astype(bool))


def test_unobserved_horizon_leaves_every_outcome_null() -> None:
    df = _outcomes(SUBS, last_event="2024-05-10")  # horizon passed, grace after it not yet
    assert df[["churned", "contracted", "expanded", "mrr_horizon"]].isna().all().all()


def test_thresholds_come_from_config() -> None:
    tables = to_tables(subscription_world(SUBS))
    loose = ForecastConfig(contraction_below=0.4, expansion_above=1.6)
    df = outcome_labels_expr(tables, normalise_dates([AS_OF]), CFG, loose).to_pandas().set_index("account_id")
    assert not df["contracted"].astype(bool).any()  # the biggest cut is to 50%
    assert df.loc["free", "expanded"]  # from nothing to something is growth at any threshold
    assert not df.loc["up", "expanded"]


def test_non_contractual_definition_is_refused() -> None:
    tables = to_tables(subscription_world(SUBS))
    with pytest.raises(ValueError, match="contractual"):
        outcome_labels_expr(tables, normalise_dates([AS_OF]), LabelsConfig(kind="non_contractual"), ForecastConfig())
