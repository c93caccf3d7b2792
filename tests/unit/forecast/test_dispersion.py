"""The random effect's σ (closed-form count moments, shared share, point in time) and the coverage it buys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from churnml.forecast.dispersion import effect_at, model_groups, moments, prior_groups
from churnml.forecast.montecarlo import Portfolio, draw_revenue
from churnml.forecast.params import POOLED, QUANTILES, ForecastParams

SEGMENTS = ("a", "b", "c")


def _world(rng: np.random.Generator, dates: int, size: int, tau: float, own: float) -> pd.DataFrame:
    """Backtest-like churn predictions: calibrated p per account, outcomes drawn with a logit shift a_date +
    b_(date, segment), a ~ N(0, tau²), b ~ N(0, own²)."""
    rows = []
    for d in range(dates):
        a = rng.normal(0, tau)
        for s in SEGMENTS:
            p = rng.beta(2, 25, size)
            y = rng.random(size) < expit(logit(p) + a + rng.normal(0, own))
            rows.append(pd.DataFrame({"as_of": pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * d),
                                      "segment": s, "p_churned": p, "y_churned": y.astype(float)}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize(("tau", "own"), [(0.0, 0.0), (0.0, 0.5), (0.4, 0.3)])
def test_moments_recover_sigma_and_its_shared_share(tau: float, own: float) -> None:
    pred = _world(np.random.default_rng(4), 120, 400, tau, own)
    s2, shared, dates = moments(model_groups(pred, ["churned"]))
    assert dates == 120
    assert np.sqrt(s2) == pytest.approx(np.hypot(tau, own), abs=0.12)
    if tau > 0:
        assert shared == pytest.approx(tau**2 / (tau**2 + own**2), abs=0.25)
    else:  # the share is noise when σ is, but the shared σ itself stays small
        assert np.sqrt(shared * s2) < 0.15


def test_effect_at_uses_only_outcomes_known_at_the_date_and_leans_on_the_prior_when_they_are_few() -> None:
    pred = _world(np.random.default_rng(5), 40, 300, 0.0, 0.6)
    model = model_groups(pred, ["churned"])
    prior = model.iloc[:0]
    when = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * 30)
    base = effect_at(model, prior, ["churned"], when, lag_days=104)
    future = model["as_of"] > when - pd.Timedelta(days=104)
    changed = model.assign(r=np.where(future, 1e3, model["r"]))  # unknown outcomes, wildly off
    assert effect_at(changed, prior, ["churned"], when, lag_days=104) == base
    assert base[2] == (~future).groupby(model["as_of"]).any().sum()  # dates used = dates known
    # a prior of σ = 0 pulls a short model history towards 0, a long one much less
    calm = model.assign(r=0.0, v=model["v"])
    short = effect_at(model[model["as_of"] < pd.Timestamp("2024-01-22")], calm, ["churned"], None, 104)
    long = effect_at(model, calm, ["churned"], None, 104)
    alone = effect_at(model, prior, ["churned"], None, 104)
    assert short[0]["churned"] < long[0]["churned"] < alone[0]["churned"]


def test_prior_groups_count_against_the_latest_rate_known_then() -> None:
    dates = pd.to_datetime(["2024-01-01", "2024-03-01", "2024-06-01"])
    frame = pd.DataFrame({"as_of": np.repeat(dates, 4), "segment": "a", "mrr": 10.0,
                          "churned": [True, False, False, False, True, True, False, False,
                                      False, False, False, False]})
    g = prior_groups(frame, ["churned"], lag_days=100).set_index("as_of")
    assert list(g.index) == [pd.Timestamp("2024-06-01")]  # the earlier dates have no cohort 100 days before
    assert g.loc["2024-06-01", "r"] == pytest.approx(0 - 4 * 0.25)  # 2024-01-01's rate, not 2024-03-01's
    assert g.loc["2024-06-01", "v"] == pytest.approx(4 * 0.25 * 0.75)


def _coverage(pred_hist: pd.DataFrame, test: pd.DataFrame, use_sigma: bool) -> float:
    model = model_groups(pred_hist, ["churned"])
    sigma, shared, _ = effect_at(model, model.iloc[:0], ["churned"], None, 0)
    flat = {c: [1.0] * len(QUANTILES) for c in ("stay", "contract", "expand")}
    params = ForecastParams({POOLED: flat}, {"churned": sigma["churned"] if use_sigma else 0.0}, 90,
                            shared={"churned": shared["churned"]})
    inside = []
    for _, day in test.groupby("as_of"):
        codes, segs = pd.factorize(day["segment"], sort=True)
        p = np.column_stack([day["p_churned"], np.zeros(len(day)), np.zeros(len(day))])
        pf = Portfolio(np.full(len(day), 100.0), p, codes, list(segs))
        gross, _ = draw_revenue(pf, params, np.ones((len(day), 1), bool), 800, seed=len(inside))
        lo, hi = np.quantile(gross[:, 0] / (100.0 * len(day)), [0.1, 0.9])
        grr = 1 - day["y_churned"].mean()
        inside.append(lo <= grr <= hi)
    return float(np.mean(inside))


def test_an_80_percent_interval_covers_overdispersed_outcomes_about_80_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    history = _world(rng, 80, 200, 0.35, 0.35)  # σ learned from these dates only
    test = _world(rng, 150, 200, 0.35, 0.35)  # then forecast new dates of the same world
    assert 0.72 <= _coverage(history, test, use_sigma=True) <= 0.88
    assert _coverage(history, test, use_sigma=False) < 0.65  # independent draws: far too narrow
