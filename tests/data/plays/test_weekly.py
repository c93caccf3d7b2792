"""The alert step over a score store, and the play-effect table from a simulated world's recorded holdout."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from churnml.config import Settings
from churnml.data.load import load_data
from churnml.plays.weekly import alert_week, effect_report, print_alerts, print_effects
from churnml.scoring.store import COLUMNS, ScoreStore
from churnml.simulate import simulate_world
from churnml.simulate.plays import ASSIGNMENTS_FILE, EFFECTS_FILE, PlaySimParams


def _scores(as_of: dt.date, probs: dict[str, float], nps: float) -> pd.DataFrame:
    rows = []
    for aid, p in probs.items():
        band = "high" if p >= 0.25 else "medium" if p >= 0.1 else "low"
        rows.append({c: None for c in COLUMNS} | {
            "account_id": aid, "as_of": pd.Timestamp(as_of), "churn_probability": p, "risk_band": band,
            "mrr": 100.0, "mrr_at_risk": 100.0 * p, "risk_drivers": "[]", "protective_factors": "[]",
            "theme_contributions": "{}", "raw_score": 0.0, "base_value": 0.0, "model_name": "m",
            "model_version": "1", "scored_at": pd.Timestamp("2025-01-01"),
            "signals": json.dumps({"nps_latest": nps, "seat_utilisation_30d": 0.9}),
        })
    return pd.DataFrame(rows)


def test_alert_week_reads_the_score_store_and_deduplicates(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path, plays={"holdout": 0.0})
    store = ScoreStore.from_work_dir(tmp_path)
    w1, w2 = dt.date(2024, 6, 3), dt.date(2024, 6, 10)
    store.write(_scores(w1, {"A": 0.05, "B": 0.3}, nps=8))
    store.write(_scores(w2, {"A": 0.2, "B": 0.3}, nps=8))
    alert_week(settings, w1)
    week = alert_week(settings, w2)
    got = week.alerts.set_index("account_id")
    assert list(got.index) == ["A"] and got.loc["A", "cause"] == "band_up"  # low -> medium; B stays high
    again = alert_week(settings, w2)  # re-running the week changes nothing
    pd.testing.assert_frame_equal(week.alerts, again.alerts)
    console = Console(record=True, width=200)
    print_alerts(console, week)
    text = " ".join(console.export_text().split())  # the title wraps to the table's width
    # one row per account with its play by name; the play's text said once, below the table
    assert "open and routed on 1 accounts" in text and text.count("Book an adoption session") == 1
    assert "adoption_session: Book an adoption session" in text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plays") / "data"
    simulate_world(out, 150, dt.date(2023, 1, 1), 12, seed=5, progress=False, plays=PlaySimParams(holdout=0.3))
    return out


def test_simulated_plays_write_the_log_and_the_truth(world: Path) -> None:
    iv = pd.read_parquet(world / "interventions.parquet")
    asg = pd.read_parquet(world / ASSIGNMENTS_FILE)
    eff = pd.read_parquet(world / EFFECTS_FILE)
    assert len(iv) == int((~asg["held_out"]).sum()) > 0  # every routed decision is logged, held-out ones never
    assert 0.1 < asg["held_out"].mean() < 0.5
    assert set(eff["play"]) == {"adoption_session", "executive_call", "renewal_review"}
    # non-responders gain nothing; responders gain (zero only where the hazard is, e.g. a spell's first month)
    assert (eff.loc[~eff["responds"], "effect"] == 0).all() and (eff.loc[eff["responds"], "effect"] >= 0).all()
    assert (eff.loc[eff["responds"], "effect"] > 0).mean() > 0.9
    # heterogeneous: each play helps some accounts and not others
    assert eff.groupby("play")["responds"].mean().between(0.01, 0.99).all()


def test_effect_report_from_the_recorded_holdout(world: Path) -> None:
    settings = Settings(data={"dir": world}, plays={"bootstrap": 100})
    tables = load_data(settings).tables
    effects, source = effect_report(settings, tables)
    assert "play_assignments" in source and len(effects)
    assert (effects["churn_prevented_lo"] <= effects["churn_prevented"]).all()
    assert (effects["churn_prevented"] <= effects["churn_prevented_hi"]).all()
    assert (effects["n_held_out"] > 0).all()
    console = Console(record=True, width=200)
    print_effects(console, effects, source, 90)
    assert "churn prevented" in console.export_text()
