"""Plays in the simulator change only the accounts they act on, and the oracle's hazard carries their effect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from churnml.simulate import simulate_world
from churnml.simulate.plays import ASSIGNMENTS_FILE, EFFECTS_FILE, PlaySimParams


def test_plays_change_nothing_for_accounts_they_never_touch(tmp_path: Path) -> None:
    args = dict(accounts=120, start=dt.date(2023, 1, 1), months=12, seed=9, progress=False)
    simulate_world(tmp_path / "off", **args)
    simulate_world(tmp_path / "on", **args, plays=PlaySimParams(holdout=0.2))
    assert not (tmp_path / "off" / "interventions.parquet").exists()
    touched = set(pd.read_parquet(tmp_path / "on" / ASSIGNMENTS_FILE)["account_id"])
    subs = {k: pd.read_parquet(tmp_path / k / "subscriptions.parquet") for k in ("off", "on")}
    quiet = {k: s[~s["account_id"].isin(touched)].reset_index(drop=True) for k, s in subs.items()}
    assert len(quiet["off"]) and len(touched)
    pd.testing.assert_frame_equal(quiet["off"], quiet["on"])
    # the day-level hazard the oracle reads is lower where a responding play was running
    hz = {k: pd.read_parquet(tmp_path / k / "truth" / "spell_hazard.parquet") for k in ("off", "on")}
    eff = pd.read_parquet(tmp_path / "on" / EFFECTS_FILE)
    asg = pd.read_parquet(tmp_path / "on" / ASSIGNMENTS_FILE)
    helped = asg[~asg["held_out"]].merge(eff[eff["responds"]], on=["account_id", "month", "play"])
    assert len(helped)
    key = ["account_id", "spell_start", "month"]
    both = hz["off"].merge(hz["on"], on=key, suffixes=("_off", "_on"))
    row = both.merge(helped[["account_id", "month"]], on=["account_id", "month"])
    row = row[row["p_churn_off"] > 0]
    assert len(row) and (row["p_churn_on"] < row["p_churn_off"]).all()
    # a held-out decision changes nothing: accounts whose every decision was held out live as without plays
    # (so the held-out arm is the untreated world, and the holdout compares like with like)
    routed = set(asg.loc[~asg["held_out"], "account_id"])
    only_held = touched - routed
    assert only_held
    same = {k: s[s["account_id"].isin(only_held)].reset_index(drop=True) for k, s in subs.items()}
    pd.testing.assert_frame_equal(same["off"], same["on"])
