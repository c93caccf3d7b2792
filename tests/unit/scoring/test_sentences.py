"""Reason sentences: phrased from the catalog entry (description, unit, reference), one unit format, pairs that
read in the direction of their numbers, templates only where words need one."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.features.catalog import FEATURES, FeatureSpec
from churnml.features.units import format_value
from churnml.scoring.explain import TEMPLATES, pair_sentence, sentence_for
from churnml.scoring.explain.sentences import reference_words


@pytest.mark.parametrize(
    ("feature", "values", "expected"),
    [
        ("active_users_30d", {"active_users_30d": 11.0, "active_users_prev_30d": 16.0},
         "Distinct active users in the last 30 days: 11, down from 16 in the 30 days before the last 30"),
        ("events_30d", {"events_30d": 12.0, "events_prev_30d": 40.0},
         "Product events in the last 30 days: 12, down from 40 in the 30 days before the last 30"),
        ("events_30d", {"events_30d": 40.0, "events_prev_30d": 0.0},
         "Product events in the last 30 days: 40, up from 0 in the 30 days before the last 30"),
        ("events_30d", {"events_30d": 12.0}, "Product events in the last 30 days: 12"),
        ("mrr", {"mrr": 300.0, "mrr_90d_ago": 500.0}, "Monthly recurring revenue: $300, down from $500 90 days ago"),
        ("event_types_30d", {"event_types_30d": 3.0, "event_types_90d": 5.0},
         "Distinct product features used in the last 30 days: 3 (5 in the last 90 days)"),
        ("tickets_open_high_14d", {"tickets_open_high_14d": 3.0}, "High-priority tickets open for over 14 days: 3"),
        ("survey_responses_180d", {"survey_responses_180d": 1.0},
         "Survey answers received in the last 180 days: 1 response"),
        ("seat_utilisation_30d", {"seat_utilisation_30d": 0.25}, "Share of paid seats used in the last 30 days: 25%"),
        ("nps_latest", {"nps_latest": 3.0, "nps_previous": 8.0, "nps_category": "detractor"},
         "Latest NPS 3 (detractor), down from 8"),
        ("nps_latest", {"nps_latest": float("nan"), "nps_previous": None}, "No NPS survey answered in the last year"),
        ("days_since_last_survey", {"days_since_last_survey": np.nan}, "No survey answered in the last year"),
        ("days_since_last_event", {"days_since_last_event": 41.0}, "No product activity for 41 days"),
        ("days_since_last_event", {"days_since_last_event": np.nan}, "No product activity in the last 90 days"),
        ("days_to_renewal", {"days_to_renewal": 80.0}, "Renewal in 80 days"),
        ("contract_type", {"contract_type": "annual"}, "Annual contract"),
        ("contract_type", {"contract_type": "multi-year"}, "Multi-year contract"),
        ("tenure_days", {"tenure_days": 1388.0}, "Customer for 3.8 years"),
        ("csat_mean_90d", {"csat_mean_90d": None}, "No CSAT survey answered in the last 90 days"),
        ("nps_category", {"nps_category": "passive"}, "Latest NPS category: passive"),
        ("employees", {"employees": 149.0}, "Employees: 149"),
        ("acquisition_channel", {"acquisition_channel": None}, "Acquisition channel: not recorded"),
    ],
)
def test_sentences(feature: str, values: dict, expected: str) -> None:
    assert sentence_for(feature, values) == expected


def test_a_spec_with_no_template_phrases_from_its_catalog_entry() -> None:
    """A feature added to the catalog tomorrow (h14's configurable windows, per-type counts) needs no words here."""
    specs = {s.name: s for s in (
        FeatureSpec("events_180d", "Product events in the last 180 days", "usage", "events",
                    reference="events_prev_180d"),
        FeatureSpec("events_prev_180d", "Product events in the 180 days before the last 180", "usage", "events"),
        FeatureSpec("type_unfriend_30d", "Unfriend events in the last 30 days", "usage", "events"),
        FeatureSpec("money_90d", "Money spent in the last 90 days", "commercial", "USD"),
        FeatureSpec("widgets_per_user", "Widgets per active user", "usage", "widgets"),
        FeatureSpec("days_since_first_event", "Days since the first product event", "usage", "days"),
    )}
    assert sentence_for("events_180d", {"events_180d": 90, "events_prev_180d": 120}, specs) == (
        "Product events in the last 180 days: 90, down from 120 in the 180 days before the last 180")
    assert sentence_for("type_unfriend_30d", {"type_unfriend_30d": 4}, specs) == (
        "Unfriend events in the last 30 days: 4")
    assert sentence_for("money_90d", {"money_90d": 1234.5}, specs) == "Money spent in the last 90 days: $1,234"
    assert sentence_for("widgets_per_user", {"widgets_per_user": 2.5}, specs) == "Widgets per active user: 2.5"
    assert sentence_for("widgets_per_user", {"widgets_per_user": np.nan}, specs) == (
        "Widgets per active user: not recorded")
    assert sentence_for("days_since_first_event", {"days_since_first_event": 1.0}, specs) == (
        "Days since the first product event: 1")
    assert not set(specs) & set(TEMPLATES)


def test_every_catalog_feature_phrases_without_raw_names_or_nan() -> None:
    values = {f.name: (2.0 if f.kind == "numeric" else "annual") for f in FEATURES}
    for f in FEATURES:
        for row in (values, {f.name: None}):
            s = sentence_for(f.name, row)
            assert ("_" not in f.name or f.name not in s) and not re.search(r"\bnan\b|\bNone\b|<NA>", s), s
            assert s[0].isupper() or s[0].isdigit() or s[0] == "$", s


def test_attribute_columns_read_as_words() -> None:
    """Imported attributes keep their own column names; reasons show them as words, acronyms intact."""
    assert sentence_for("TotalCharges", {"TotalCharges": 80.5}) == "Total charges: 80.5"
    assert sentence_for("SeniorCitizen", {"SeniorCitizen": "Yes"}) == "Senior citizen: Yes"
    assert sentence_for("CSATScore", {"CSATScore": None}) == "CSAT score: not recorded"
    assert sentence_for("num_employees", {"num_employees": 12}) == "Num employees: 12"


def test_reference_words() -> None:
    assert reference_words("Product events in the last 30 days", "Product events in the 30 days before the last 30") \
        == ("in the 30 days before the last 30", True)
    assert reference_words("Monthly recurring revenue", "Monthly recurring revenue 90 days ago") == (
        "90 days ago", True)
    assert reference_words("Features used in the last 30 days", "Features used in the last 90 days") == (
        "in the last 90 days", False)
    assert reference_words("Latest NPS answer", "The NPS answer before the latest one") == (
        "(the NPS answer before the latest one)", True)


# --------------------------------------------------------------------------- direction follows the numbers

_PAIRS = [f for f in FEATURES if f.reference]
_NUMBERS = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def _shown_number(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([f for f in _PAIRS if f.name != "nps_latest"]),
       st.floats(0, 5000, allow_nan=False), st.floats(0, 5000, allow_nan=False))
def test_pair_words_follow_the_numbers(spec: FeatureSpec, value: float, ref: float) -> None:
    """'down from' only when the shown value is below the shown reference, 'up from' only above, 'the same' when
    they print alike: a sentence never reads against its numbers."""
    from churnml.features.catalog import BY_NAME

    text = pair_sentence(spec, value, BY_NAME[spec.reference], ref)
    now, then = format_value(value, spec.unit), format_value(ref, BY_NAME[spec.reference].unit)
    if " down from " in text or " up from " in text:
        shown = [_shown_number(x) for x in _NUMBERS.findall(text.split(": ", 1)[1])[:2]]
        assert (shown[0] < shown[1]) == (" down from " in text), text
        assert value < ref if " down from " in text else value > ref
    elif ", the same as " in text:
        assert now.split()[0] == then.split()[0], text
    else:  # a reference that is not an earlier period: no direction word at all
        assert "(" in text and not re.search(r"\b(down|up|fell|rose)\b", text), text


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10), st.integers(0, 10))
def test_nps_pair_words_follow_the_numbers(latest: int, previous: int) -> None:
    text = sentence_for("nps_latest", {"nps_latest": float(latest), "nps_previous": float(previous)})
    if latest < previous:
        assert f"down from {previous}" in text
    elif latest > previous:
        assert f"up from {previous}" in text
    else:
        assert "the same" in text and "down" not in text and "up" not in text


@pytest.mark.parametrize(("value", "unit", "expected"), [
    (1234.0, "USD", "$1,234"), (12.5, "USD", "$12.50"), (-300.0, "USD", "-$300"), (0.25, "%", "25%"),
    (0.034, "%", "3.4%"), (1.5, "ratio", "1.5×"), (4.234, "score", "4.23"), (1.0, "tickets", "1 ticket"),
    (3.0, "tickets", "3 tickets"), (None, "events", "not recorded"), (float("nan"), "USD", "not recorded"),
    ("annual", "", "annual"),
])
def test_one_unit_format(value: object, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_one_unit_format_serves_the_report_and_the_page() -> None:
    from churnml.reporting.tiles import fmt as _fmt
    from serving.signals import shown as _shown

    assert _fmt(0.985, "pct") == format_value(0.985, "%", decimals=1) == "98.5%"
    assert _fmt(1234.4, "money") == format_value(1234.4, "USD", decimals=0) == "$1,234"
    assert _shown(3.0, "tickets") == format_value(3.0, "tickets") == "3 tickets"
    assert _shown(None, "USD") == "not recorded"
