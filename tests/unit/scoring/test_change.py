"""What changed this week: the change names the signals that moved, then the split by theme."""

from __future__ import annotations

import dataclasses

import pytest

from churnml.features.catalog import BY_NAME
from churnml.scoring.explain import score_change

PREV = {"usage": -0.5, "support": 0.0, "sentiment": 0.1, "commercial": 0.0}
CUR = {"usage": 0.4, "support": 0.0, "sentiment": 0.5, "commercial": -0.05}


def test_the_change_names_the_signals_that_moved() -> None:
    ch = score_change(0.10, PREV, -2.0, 0.24, CUR, -2.0,
                      previous_signals={"active_users_30d": 18.0, "nps_latest": 8.0, "tickets_open": 2.0, "mrr": 500.0},
                      current_signals={"active_users_30d": 11.0, "nps_latest": 3.0, "tickets_open": 2.0, "mrr": 520.0})
    assert ch.points == pytest.approx(14.0)
    assert sum(ch.parts.values()) == pytest.approx(14.0)
    # usage moved most, then sentiment; open tickets did not move; MRR moved but commercial lowered the risk
    assert [m.name for m in ch.signals] == ["active_users_30d", "nps_latest"]
    assert ch.text() == "risk up 14 points: active users 18 → 11, NPS 8 → 3 (usage +10, sentiment +4, commercial -1)"


def test_units_and_missing_values_in_the_moves() -> None:
    ch = score_change(0.30, {"commercial": 0.0, "sentiment": 0.0}, -1.0, 0.20, {"commercial": -0.4, "sentiment": -0.2},
                      -1.0, previous_signals={"mrr": 300.0, "csat_mean_90d": None},
                      current_signals={"mrr": 500.0, "csat_mean_90d": 4.5})
    assert ch.text().startswith("risk down 10 points: MRR $300 → $500, CSAT none → 4.5 (")


def test_context_signals_and_small_themes_are_not_named() -> None:
    """A renewal countdown moves every week: context, never named; nor a signal of a theme under half a point."""
    specs = {"days_to_renewal": dataclasses.replace(BY_NAME["days_to_renewal"], context=True)}
    ch = score_change(0.10, {"commercial": 0.0, "usage": 0.0}, -2.0, 0.20, {"commercial": 0.8, "usage": 0.01}, -2.0,
                      previous_signals={"days_to_renewal": 40.0, "events_30d": 100.0},
                      current_signals={"days_to_renewal": 33.0, "events_30d": 90.0}, specs=specs)
    assert all(m.name != "days_to_renewal" for m in ch.signals)
    assert ch.text() == "risk up 10 points: commercial +10"


def test_no_signal_moved_reads_as_before() -> None:
    ch = score_change(0.10, PREV, -2.0, 0.28, CUR, -2.0, previous_signals={"mrr": 5.0}, current_signals={"mrr": 5.0})
    assert ch.signals == () and ch.text().startswith("risk up 18 points: usage +")
    same = score_change(0.2, PREV, -2.0, 0.2, PREV, -2.0, previous_signals={"mrr": 5.0}, current_signals={"mrr": 9.0})
    assert same.text() == "risk unchanged"
