"""Monte Carlo retention draws, amounts and the segment random effect, on hand-made portfolios."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churnml.config import ForecastConfig
from churnml.forecast.montecarlo import Portfolio, draw_revenue, expected_mrr
from churnml.forecast.params import (
    CLASSES,
    POOLED,
    QUANTILES,
    ForecastParams,
    fit_amounts,
)
from churnml.forecast.portfolio import forecast_portfolio


def _params(contract: float = 0.5, expand: float = 1.5, sigma: float = 0.0) -> ForecastParams:
    flat = {"stay": [1.0] * len(QUANTILES), "contract": [contract] * len(QUANTILES),
            "expand": [expand] * len(QUANTILES)}
    return ForecastParams({POOLED: flat}, {"churned": sigma, "contracted": sigma, "expanded": sigma}, 90)


def _portfolio(p: list[list[float]], mrr: list[float]) -> Portfolio:
    return Portfolio(np.array(mrr), np.array(p), np.zeros(len(mrr), dtype=int), [POOLED])


def test_expected_mrr_churn_to_zero_contraction_and_expansion_by_their_ratios() -> None:
    pf = _portfolio([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0.2, 0.3, 0.1]], [100, 100, 100, 100, 100])
    net, gross = expected_mrr(pf, _params())
    np.testing.assert_allclose(net, [0, 50, 150, 100, 0.3 * 50 + 0.1 * 150 + 0.4 * 100])
    np.testing.assert_allclose(gross, [0, 50, 100, 100, 0.3 * 50 + 0.1 * 100 + 0.4 * 100])


def test_certain_outcomes_give_exact_draws() -> None:
    pf = _portfolio([[1, 0, 0], [0, 0, 0], [0, 0, 1]], [100, 200, 300])
    groups = np.array([[1, 1], [1, 0], [1, 0]], dtype=bool)
    gross, net = draw_revenue(pf, _params(expand=2.0), groups, draws=50)
    np.testing.assert_allclose(gross, np.tile([500.0, 0.0], (50, 1)))
    np.testing.assert_allclose(net, np.tile([800.0, 0.0], (50, 1)))


def test_probabilities_past_one_are_scaled_not_double_counted() -> None:
    pf = _portfolio([[0.6, 0.6, 0.6]], [100])
    net, _ = expected_mrr(pf, _params())
    assert net[0] == pytest.approx(0.2 * 50 + 0.2 * 150)  # contraction and expansion share the 40% left


def test_intervals_cover_independent_outcomes_at_their_level() -> None:
    rng = np.random.default_rng(1)
    n, reps = 300, 300
    p = np.column_stack([rng.beta(1, 12, n), rng.beta(1, 15, n), np.zeros(n)])
    mrr = rng.lognormal(6, 1, n)
    pf = Portfolio(mrr, p, np.zeros(n, dtype=int), [POOLED])
    gross, _ = draw_revenue(pf, _params(), np.ones((n, 1), bool), draws=3000, seed=2)
    lo, hi = np.quantile(gross[:, 0], [0.1, 0.9])
    u = rng.random((reps, n))
    realised = np.where(u < p[:, 0], 0, np.where(u < p[:, 0] + p[:, 1], 0.5, 1.0)) @ mrr
    inside = np.mean((realised >= lo) & (realised <= hi))
    assert 0.72 <= inside <= 0.88


def test_random_effect_widens_the_interval_and_keeps_the_centre() -> None:
    rng = np.random.default_rng(0)
    n = 400
    pf = Portfolio(np.full(n, 100.0), np.column_stack([np.full(n, 0.1), np.full(n, 0.05), np.full(n, 0.05)]),
                   rng.integers(0, 2, n), ["a", "b"])
    g = np.ones((n, 1), bool)
    narrow = draw_revenue(pf, _params(sigma=0.0), g, 1500, seed=3)[0][:, 0]
    wide = draw_revenue(pf, _params(sigma=0.6), g, 1500, seed=3)[0][:, 0]
    assert wide.std() > 1.8 * narrow.std()
    assert abs(wide.mean() - narrow.mean()) / narrow.mean() < 0.006


def _labelled(n: int, seg: str, ratio: float, cls: str) -> pd.DataFrame:
    return pd.DataFrame({"segment": seg, "mrr": 100.0, "mrr_horizon": 100.0 * ratio, "churned": False,
                         "contracted": cls == "contract", "expanded": cls == "expand"}, index=range(n))


def test_amounts_by_segment_fall_back_to_pooled_when_sparse() -> None:
    frame = pd.concat([_labelled(40, "big", 0.6, "contract"), _labelled(5, "tiny", 0.2, "contract"),
                       _labelled(40, "big", 1.0, "stay"), _labelled(40, "tiny", 1.0, "stay"),
                       _labelled(40, "big", 1.4, "expand")], ignore_index=True)
    frame.loc[0, ["churned", "mrr_horizon"]] = [True, 0.0]  # churned rows never enter the amounts
    amounts = fit_amounts(frame)
    assert set(amounts) == {POOLED, "big", "tiny"}
    assert amounts["big"]["contract"] == [0.6] * len(QUANTILES)
    assert amounts["tiny"]["contract"] == amounts[POOLED]["contract"]  # 5 rows < MIN_ROWS
    assert amounts["tiny"]["stay"] == [1.0] * len(QUANTILES)
    assert set(amounts[POOLED]) == set(CLASSES)


def test_forecast_portfolio_groups_renewals_and_accounts() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "mrr": [100.0, 200.0, 300.0, 0.0],
                          "segment": ["x", "x", "y", "y"], "csm_id": ["c1", "c2", "c2", "c1"],
                          "days_to_renewal": [10.0, 40.0, 200.0, np.nan]})
    probs = pd.DataFrame({"churned": [0.5, 0.1, 0.0, 0.0], "contracted": [0.0, 0.2, 0.0, 0.0],
                          "expanded": [0.0, 0.0, 1.0, 0.0]})
    fc = forecast_portfolio(frame, probs, _params(), ForecastConfig(draws=500), dt.date(2025, 1, 1), by="csm_id")
    assert list(fc.groups["csm_id"]) == ["all", "c1", "c2"]
    top = fc.groups.iloc[0]
    assert top["arr"] == pytest.approx(12 * 600)
    assert top["renewing_arr"] == pytest.approx(12 * 300)  # a (day 10) and b (day 40) renew inside 90 days
    assert top["grr_lo80"] <= top["grr"] <= top["grr_hi80"]
    assert top["grr_lo95"] <= top["grr_lo80"]
    exp_gross = 0.5 * 100 + 200 * (0.7 + 0.2 * 0.5) + 300
    assert top["grr"] == pytest.approx(exp_gross / 600, abs=0.02)
    assert top["arr_at_risk"] == pytest.approx(12 * (600 - exp_gross))
    assert list(fc.renewals["renewal_month"]) == ["2025-01", "2025-02"]
    acc = fc.accounts.set_index("account_id")
    assert acc.loc["c", "expected_mrr_horizon"] == pytest.approx(450.0)
    assert acc.loc["a", "expected_mrr_at_risk"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="by 'region'"):
        forecast_portfolio(frame, probs, _params(), ForecastConfig(draws=500), dt.date(2025, 1, 1), by="region")
