"""Alerts: causes from a scoring, one alert per account and cause across weeks, the band-stratified holdout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.config import PlaysConfig
from churnml.plays.alerts import alert_causes, routed
from churnml.plays.holdout import assign_holdout
from churnml.plays.state import AlertStore

W1, W2, W3, W4 = (dt.date(2024, 5, 6) + dt.timedelta(days=7 * i) for i in range(4))


def score(account: str, as_of: dt.date, p: float, band: str, *, nps: float | None = 8.0, points: float = 0.0,
          renewal: float | None = 200.0, term: float | None = 12.0) -> dict:
    signals = {"nps_latest": nps, "seat_utilisation_30d": 0.8, "tickets_open_high_14d": 0.0,
               "days_to_renewal": renewal, "contract_term_months": term, "mrr": 500.0}
    drivers = [{"feature": "nps_latest", "sentence": "NPS answer fell to 3", "contribution": 0.4}]
    return {"account_id": account, "as_of": pd.Timestamp(as_of), "churn_probability": p, "risk_band": band,
            "mrr": 500.0, "change_points": points, "change_text": f"risk up {points:.0f} points",
            "risk_drivers": json.dumps(drivers), "signals": json.dumps(signals)}


def test_causes_band_jump_and_signals() -> None:
    cfg = PlaysConfig()
    scores = pd.DataFrame([
        score("A", W1, 0.30, "high", nps=4, points=15, renewal=30),
        score("B", W1, 0.05, "low"),
        score("C", W1, 0.12, "medium", renewal=30),  # renewal near but not high risk: no renewal alert
    ])
    got = alert_causes(scores, {"A": "medium", "B": "low"}, cfg)
    assert sorted(got.loc[got.account_id == "A", "cause"]) == ["band_up", "detractor", "renewal_at_risk",
                                                                 "risk_jump"]
    assert set(got.account_id) == {"A"}
    row = got[got.cause == "detractor"].iloc[0]
    assert row.detail == "nps_latest 4 (<= 6)" and row.reasons == "NPS answer fell to 3"


def test_one_alert_per_account_and_cause_across_weeks(tmp_path: Path) -> None:
    cfg = PlaysConfig(holdout=0.0)
    store = AlertStore(tmp_path / "alerts.duckdb")
    detractor = lambda w, nps: alert_causes(pd.DataFrame([score("A", w, 0.2, "medium", nps=nps)]), {}, cfg)  # noqa: E731
    assert len(store.update(W1, detractor(W1, 3), cfg).new) == 1
    plan = store.update(W2, detractor(W2, 3), cfg)  # still a detractor: no second alert
    assert plan.new.empty and len(plan.seen) == 1
    assert len(store.read()) == 1 and store.read().iloc[0].last_seen_as_of == W2
    store.update(W3, detractor(W3, 9), cfg)  # the cause clears
    alerts = store.read()
    assert list(alerts.status) == ["cleared"] and alerts.iloc[0].closed_as_of == W3
    store.update(W4, detractor(W4, 2), cfg)  # it breaks again: a new alert
    assert list(store.read().status) == ["cleared", "open"]


def test_resolved_alert_suppresses_its_cause_until_it_clears(tmp_path: Path) -> None:
    cfg = PlaysConfig(holdout=0.0)
    store = AlertStore(tmp_path / "alerts.duckdb")
    causes = lambda w, nps: alert_causes(pd.DataFrame([score("A", w, 0.2, "medium", nps=nps)]), {}, cfg)  # noqa: E731
    store.update(W1, causes(W1, 3), cfg)
    assert store.resolve("A", "executive_call", W1) == 1
    assert store.update(W2, causes(W2, 3), cfg).new.empty  # play done, cause still there: not asked again
    assert routed(store.read()).empty
    store.update(W3, causes(W3, 9), cfg)
    assert list(store.read().status) == ["resolved"] and store.read().iloc[0].closed_as_of == W3


def test_rerunning_a_week_gives_the_same_store_and_old_weeks_are_refused(tmp_path: Path) -> None:
    cfg = PlaysConfig(holdout=0.5)
    store = AlertStore(tmp_path / "alerts.duckdb")
    rows = pd.DataFrame([score(f"A{i}", W1, 0.3, "high", nps=3) for i in range(40)])
    store.update(W1, alert_causes(rows, {}, cfg), cfg)
    store.update(W2, alert_causes(rows.assign(as_of=pd.Timestamp(W2)).head(30), {}, cfg), cfg)
    first = store.read()
    store.update(W2, alert_causes(rows.assign(as_of=pd.Timestamp(W2)).head(30), {}, cfg), cfg)
    pd.testing.assert_frame_equal(first, store.read())
    with pytest.raises(ValueError, match="weeks must be in order"):
        store.update(W1, alert_causes(rows, {}, cfg), cfg)


def test_holdout_share_is_stratified_by_band() -> None:
    rng = np.random.default_rng(3)
    accounts = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(1000)],
                             "risk_band": ["high"] * 100 + ["medium"] * 300 + ["low"] * 600})
    held = assign_holdout(accounts, 0.1, rng)
    per_band = held.groupby(accounts["risk_band"]).sum()
    # floor(0.1 n + u): never more than one account off the share in any band
    assert abs(per_band["high"] - 10) <= 1 and abs(per_band["medium"] - 30) <= 1 and abs(per_band["low"] - 60) <= 1
    # the same accounts in another order: the same draw
    shuffled = accounts.sample(frac=1.0, random_state=1)
    again = assign_holdout(shuffled, 0.1, np.random.default_rng(3))
    assert set(accounts.account_id[held]) == set(shuffled.account_id[again])


def test_an_account_is_held_out_as_a_whole(tmp_path: Path) -> None:
    cfg = PlaysConfig(holdout=0.3)
    store = AlertStore(tmp_path / "alerts.duckdb")
    rows = pd.DataFrame([score(f"A{i:03d}", W1, 0.3, "high", nps=3, renewal=20) for i in range(200)])
    store.update(W1, alert_causes(rows, {}, cfg), cfg)
    alerts = store.read()
    assert (alerts.groupby("account_id")["held_out"].nunique() == 1).all()
    share = alerts.groupby("account_id")["held_out"].first().mean()
    assert abs(share - 0.3) <= 1 / 200 + 1e-9
    # a new cause of a held-out account next week is held out too
    later = rows.assign(as_of=pd.Timestamp(W2), change_points=20.0)
    new = store.update(W2, alert_causes(later, {}, cfg), cfg).new
    was = alerts.groupby("account_id")["held_out"].first()
    assert (new.set_index("account_id")["held_out"] == was.reindex(new.account_id).to_numpy()).all()


def test_default_detractor_and_seat_rules_wait_for_elevated_risk() -> None:
    """A detractor or an under-used account at low risk is a survey follow-up, not a churn alert (default rules)."""
    cfg = PlaysConfig()
    low = score("L", W1, 0.03, "low", nps=2)
    medium = score("M", W1, 0.12, "medium", nps=2)
    got = alert_causes(pd.DataFrame([low, medium]), {}, cfg)
    assert got[["account_id", "cause"]].values.tolist() == [["M", "detractor"]]
    assert {r.cause: r.bands for r in cfg.signals}["low_seat_use"] == ["medium", "high"]


def test_default_renewal_rule_waits_for_a_term_contract() -> None:
    """A monthly contract renews every month (its days to renewal are always under 31): no renewal review for
    it, nor where the term is not recorded; an annual or longer contract near renewal at high risk gets one."""
    cfg = PlaysConfig()
    rows = [score("MONTHLY", W1, 0.4, "high", renewal=20, term=1), score("ANNUAL", W1, 0.4, "high", renewal=20),
            score("MULTI", W1, 0.4, "high", renewal=50, term=36), score("UNKNOWN", W1, 0.4, "high", renewal=20,
                                                                          term=None)]
    got = alert_causes(pd.DataFrame(rows), {}, cfg)
    assert sorted(got.loc[got.cause == "renewal_at_risk", "account_id"]) == ["ANNUAL", "MULTI"]


def test_a_when_condition_is_configuration() -> None:
    cfg = PlaysConfig.model_validate({"signals": [
        {"cause": "detractor", "signal": "nps_latest", "op": "<=", "value": 6,
         "when": [{"signal": "mrr", "op": ">=", "value": 1000}]}]})
    got = alert_causes(pd.DataFrame([score("A", W1, 0.3, "high", nps=2)]), {}, cfg)
    assert got.empty  # MRR 500: the condition does not hold
    with pytest.raises(ValueError, match="when"):
        PlaysConfig.model_validate({"signals": [{"cause": "x", "signal": "nps_latest", "op": "<=", "value": 6,
                                                  "when": [{"signal": "mrr", "op": "~", "value": 1}]}]})
