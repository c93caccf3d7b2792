"""Play effects: the holdout estimate and its by-account interval, the AIPW estimate, the uplift learners."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.config import PlaysConfig
from churnml.plays.effects import adjusted_effect, holdout_effects
from churnml.plays.shift import ShiftLearner, fit_logistic, logit, play_modifiers
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


def test_offset_learner_learns_a_plays_average_shift_from_few_rows() -> None:
    # 150 treated rows: too few for a tree split (the old learner's delta stayed exactly 0: no uplift anywhere)
    rng = np.random.default_rng(3)
    n = 600
    x = pd.DataFrame({"health": rng.normal(size=n)})
    got = np.arange(n) < 150
    p = 1 / (1 + np.exp(-(-0.5 - 0.8 * x["health"].to_numpy() - 1.5 * got)))  # the play: -1.5 on the log-odds
    y = rng.random(n) < p
    model = OffsetLearner(seed=0).fit(x, pd.Series(np.where(got, "call", None)), y)
    a, _ = model.offsets["call"]
    assert -2.5 < a < -0.7
    up = model.predict(x)["call"]
    assert (up > 0).mean() > 0.9 and up.mean() > 0.05


def test_fit_logistic_recovers_coefficients_beside_an_offset() -> None:
    rng = np.random.default_rng(4)
    n = 20000
    z = rng.random(n) < 0.5
    off = rng.normal(-1.0, 1.0, n)
    design = np.column_stack([np.ones(n), z])
    y = rng.random(n) < 1 / (1 + np.exp(-(off + design @ np.array([0.3, -1.0]))))
    beta = fit_logistic(design, y, off)
    assert beta == pytest.approx([0.3, -1.0], abs=0.1)
    assert abs(fit_logistic(design, y, off, penalty=1e6)[1]) < 0.01  # a huge ridge holds the slope at 0


def _eligible(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Randomised eligible decisions: the play halves the hazard's odds (-1.4) only for NPS <= 6 accounts."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"nps_latest": rng.integers(0, 11, n).astype(float), "health": rng.normal(size=n)})
    x["tickets_open_high_14d"] = 0.0  # the executive call's other trigger, never firing here
    x.loc[rng.random(n) < 0.1, "nps_latest"] = np.nan  # no answer: the signal does not fire
    risk = 1 / (1 + np.exp(-(-1.5 - 0.9 * x["health"].to_numpy())))
    held = rng.random(n) < 0.3
    responds = (x["nps_latest"] <= 6).to_numpy()
    shift = np.where(~held & responds, -1.4, 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-(logit(risk) + shift)))
    return x, pd.Series("executive_call", index=x.index), held, y, risk, responds


def test_shift_learner_finds_who_the_play_helps_and_ranks_by_risk_times_effect() -> None:
    x, play, held, y, risk, responds = _eligible(3000, 5)
    mods = play_modifiers(PlaysConfig())
    assert ("nps_latest", "<=", 6.0) in mods["executive_call"]
    model = ShiftLearner(modifiers=mods).fit(x, play, held, y, risk)
    s = model.shift(x, risk)["executive_call"]
    assert s[responds].mean() < -0.8 and abs(s[~responds].mean()) < 0.4
    up = model.predict(x, risk)["executive_call"]
    exact = risk - 1 / (1 + np.exp(-(logit(risk) - 1.4))) * 1.0
    truth = np.where(responds, exact, 0.0)
    wl = work_list(pd.DataFrame({"account_id": [f"A{i}" for i in range(len(x))], "mrr": 100.0}),
                   model.predict(x, risk), risk)
    top = wl.head(300)["account_id"].str[1:].astype(int).to_numpy()
    by_risk = np.argsort(-risk)[:300]
    assert truth[top].sum() > 1.3 * truth[by_risk].sum()  # uplift ranking saves clearly more than risk ranking
    assert np.corrcoef(up, truth)[0, 1] > 0.8


def test_shift_learner_refuses_units_without_a_play_and_skips_thin_plays() -> None:
    x, play, held, y, risk, _ = _eligible(200, 6)
    with pytest.raises(ValueError, match="every unit needs its play"):
        ShiftLearner().fit(x, play.where(held), held, y, risk)
    thin = play.where(np.arange(len(x)) >= 20, "renewal_review")  # 20 units: too few routed and held out
    model = ShiftLearner(modifiers=play_modifiers(PlaysConfig())).fit(x, thin, held, y, risk)
    assert list(model.coef) == ["executive_call"]
    with pytest.raises(ValueError, match="not a feature column"):
        model.predict(x.drop(columns="nps_latest"), risk)


def test_work_list_orders_accounts_no_play_helps_by_risk_not_by_row_order() -> None:
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "mrr": [100.0, 100.0, 100.0, 100.0]})
    uplift = pd.DataFrame({"call": [-0.1, 0.0, 0.05, -0.2]})
    wl = work_list(accounts, uplift, np.array([0.1, 0.3, 0.2, 0.6]))
    assert wl["account_id"].tolist() == ["C", "D", "B", "A"]  # C is helped; then by risk × MRR
    assert wl["rank_saved"].tolist() == [1, 2, 3, 4] and wl.set_index("account_id")["rank_risk"]["D"] == 1
