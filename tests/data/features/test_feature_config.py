"""The registry and the feature table follow the feature configuration: windows per theme, words of events."""

from __future__ import annotations

import pandas as pd
import pytest

from churnml.config import FeaturesConfig, LabelsConfig
from churnml.features import available_specs, feature_set, to_frame
from churnml.features.catalog import BY_NAME, FEATURES, catalog, get, registry_markdown
from churnml.features.event_types import plan_event_types
from tests.support.tiny_world import AS_OF, frames, to_tables

CFG = FeaturesConfig(
    windows={"usage": [14, 60], "support": [7, 180], "sentiment": [30]},
    event_value={"meaning": "money", "unit": "USD"},
    event_noun="purchase",
)


@pytest.fixture(scope="module")
def configured() -> tuple:
    tables = to_tables(frames())
    fs = feature_set(tables, [AS_OF], LabelsConfig(), features=CFG)
    return tables, fs, to_frame(fs).set_index("account_id")


def test_every_configured_feature_is_computed_and_nothing_else(configured: tuple) -> None:
    tables, fs, df = configured
    per_type = plan_event_types(tables["events"], [AS_OF], CFG.event_types, CFG.event_type_names)
    assert per_type is not None  # per-event-type features are on by default (`top 10`)
    assert fs.names == [s.name for s in available_specs(tables, CFG, per_type.specs)]
    assert {"events_14d", "events_60d", "active_days_60d", "value_14d", "value_mean_60d", "value_lifetime",
            "events_vs_history_60d", "tickets_7d", "tickets_180d", "high_priority_share_180d", "csat_mean_30d",
            "survey_responses_30d", "days_since_first_event", "days_since_last_ticket"} <= set(fs.names)
    # Windows not configured are not there (the 30-day trend comes only with a 30-day window).
    assert not {"events_7d", "events_30d", "events_trend_30d", "tickets_30d", "csat_mean_90d"} & set(df.columns)


def test_feature_set_specs_carry_the_configured_words(configured: tuple) -> None:
    _, fs, _ = configured
    assert fs.spec("events_14d").description == "Purchases in the last 14 days"
    assert fs.spec("events_14d").unit == "purchases"
    assert fs.spec("value_60d").description == "Money spent in the last 60 days (USD)"
    assert fs.spec("value_60d").unit == "USD"
    mean = fs.spec("value_mean_lifetime").description
    assert mean == "Average money spent per purchase since the first purchase (USD)"
    assert fs.spec("days_since_last_event").description == "Days since the last purchase"
    assert get("value_60d", fs.specs) is fs.spec("value_60d")
    with pytest.raises(KeyError):
        get("value_60d")  # not in the default registry: count events have no value features


def test_money_and_lifetime_values_by_hand(configured: tuple) -> None:
    _, _, df = configured
    a1, a2 = df.loc["A1"], df.loc["A2"]
    # tiny world: every event is worth 1.0; A1 has 2 events a day in March (62 before April 1).
    assert (a1.events_14d, a1.value_14d, a1.value_mean_14d) == (28, 28.0, 1.0)
    assert (a1.events_lifetime, a1.value_lifetime, a1.active_days_lifetime) == (a1.events_60d, 62.0, 31)
    assert (a1.days_since_first_event, a1.days_since_last_event, a1.gap_days_latest) == (31, 1, 1)
    assert a1.gap_days_mean_lifetime == 1.0 and a1.active_months_lifetime == 1
    assert pd.isna(a1.events_vs_history_60d)  # A1's history does not reach before the last 60 days
    assert a2.days_since_last_event == 41 and a2.events_14d == 0 and a2.value_14d == 0.0
    assert pd.isna(a2.value_mean_14d)  # no purchase: no mean, never a fake 0


def test_default_registry_keeps_todays_names() -> None:
    names = {f.name for f in FEATURES}
    assert {"events_7d", "events_30d", "events_90d", "events_prev_30d", "events_trend_30d", "active_days_30d",
            "days_since_last_event", "tickets_30d", "tickets_90d", "csat_mean_90d", "survey_responses_180d",
            "high_priority_share_90d"} <= names
    assert {"events_180d", "events_365d", "events_lifetime", "days_since_first_event"} <= names
    assert BY_NAME["days_since_last_event"].description == "Days since the last product activity"
    assert catalog() == FEATURES and registry_markdown() == registry_markdown(catalog(FeaturesConfig()))


def test_context_features_are_marked() -> None:
    context = {f.name for f in FEATURES if f.context}
    assert context == {"days_to_renewal", "contract_type", "contract_term_months", "tenure_days", "account_age_days",
                       "segment", "industry", "region", "plan"}
    fs = feature_set(to_tables(frames()), [AS_OF], LabelsConfig(), only=["employees"])
    assert fs.spec("employees").context  # a static attribute


def test_windows_are_validated() -> None:
    with pytest.raises(ValueError, match="windows must be"):
        FeaturesConfig(windows={"usage": [0, 30]})
    assert FeaturesConfig(windows={"usage": [90, 7, 7]}).windows.usage == (7, 90)
    assert FeaturesConfig().history() == 90 and FeaturesConfig(history_days=None).history() == 365
