"""Play effects: the holdout estimate and its by-account interval, the AIPW estimate, the uplift learners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.plays.effects import adjusted_effect, holdout_effects
from churnml.plays.uplift import OffsetLearner, TLearner, XLearner, work_list


def _randomised(n_accounts: int, effect: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = np.repeat(np.arange(n_accounts), 2)  # two units per account: the bootstrap must move them together
    held = rng.random(len(acc)) < 0.3
    base = 0.3
    y = rng.random(len(acc)) < np.where(held, base, base - effect)
    return pd.DataFrame({"account_id": [f"A{a}" for a in acc], "play": "call", "held_out": held, "churned": y,
                         "mrr": 100.0})


def test_holdout_interval_covers_the_true_effect_most_of_the_time() -> None:
    hits = 0
    for seed in range(20):
        r = holdout_effects(_randomised(400, 0.1, seed), n_boot=100, seed=seed).iloc[0]
        hits += r.churn_prevented_lo <= 0.1 <= r.churn_prevented_hi
        # with no MRR differences, MRR kept gain equals churn prevented
        assert r.mrr_kept_gain == pytest.approx(r.churn_prevented)
    assert hits >= 16  # 95% intervals: 19 expected of 20


def test_holdout_counts_and_refuses_unknown_outcomes() -> None:
    units = _randomised(50, 0.0, 1)
    r = holdout_effects(units, n_boot=50).iloc[0]
    assert r.n_routed + r.n_held_out == 100 and r.churn_prevented_lo < r.churn_prevented_hi
    with pytest.raises(ValueError, match="no observed outcome"):
        holdout_effects(units.assign(churned=units["churned"].astype(object).where(units.index > 0, None)))
    with pytest.raises(ValueError, match="missing"):
        holdout_effects(units.drop(columns="mrr"))


def test_aipw_removes_the_confounding_a_naive_comparison_keeps() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    risk = rng.normal(size=n)
    treated = rng.random(n) < 1 / (1 + np.exp(-(risk - 1)))  # CSMs act on risky accounts
    p = 1 / (1 + np.exp(-(-1.5 + 1.2 * risk)))
    y = rng.random(n) < np.clip(p - 0.08 * treated, 0, 1)  # the play prevents 8 points of churn
    naive = y[~treated].mean() - y[treated].mean()
    est = adjusted_effect(pd.DataFrame({"risk": risk}), treated, y, np.arange(n))
    assert naive < 0  # treated accounts churn more: the naive comparison says the play hurts
    assert est["lo"] <= 0.08 <= est["hi"] and abs(est["churn_prevented"] - 0.08) < 0.05


@pytest.mark.parametrize("learner", [TLearner, XLearner, OffsetLearner])
def test_uplift_ranks_the_accounts_a_play_can_save_first(learner: type[TLearner]) -> None:
    rng = np.random.default_rng(1)
    n = 8000
    x = pd.DataFrame({"usage": rng.random(n), "health": rng.normal(size=n)})
    got = rng.random(n) < 0.4
    responds = x["usage"] < 0.3  # the play helps low-usage accounts only
    p = 1 / (1 + np.exp(-(-1.0 - 0.8 * x["health"])))
    y = rng.random(n) < np.where(got & responds, p * 0.3, p)
    model = learner(seed=0).fit(x, pd.Series(np.where(got, "adoption", None)), y)
    up = model.predict(x)["adoption"]
    assert up[responds].mean() > up[~responds].mean() + 0.1
    wl = work_list(pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "mrr": 100.0}), model.predict(x),
                   model.baseline(x))
    top = wl.head(n // 10)
    assert (top["account_id"].str[1:].astype(int).map(responds)).mean() > 0.8
    assert set(wl.columns) >= {"best_play", "saved_mrr", "risk_mrr", "rank_saved", "rank_risk"}
