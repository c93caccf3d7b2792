"""Risk bands relative to the data: multiples of the base rate's odds, capacity (top K / MRR share), absolute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.config import CapacityBands, RiskBands, load_settings
from churnml.config_check import ConfigError
from churnml.scoring.bands import BandCut, band_accounts


def _counts(names: np.ndarray) -> dict[str, int]:
    return {b: int((names == b).sum()) for b in ("low", "medium", "high")}


def test_high_base_rate_is_not_everyone_high() -> None:
    rng = np.random.default_rng(0)
    p = np.clip(rng.normal(0.82, 0.08, 5000), 0.01, 0.99)  # a base rate of ~80%
    absolute, _ = band_accounts(RiskBands(rule="absolute"), p)
    assert _counts(absolute)["high"] > 0.99 * len(p)  # what issue 14 saw: everyone high
    names, cut = band_accounts(RiskBands(), p)
    counts = _counts(names)
    assert cut.rule == "relative" and cut.base_rate == pytest.approx(p.mean())
    assert 0 < counts["high"] < 0.2 * len(p) and counts["medium"] > 0 and counts["low"] > 0.5 * len(p)
    assert cut.medium < cut.high < 1


def test_relative_edges_are_multiples_of_the_base_odds() -> None:
    p = np.full(100, 0.041)
    _, cut = band_accounts(RiskBands(), p)
    odds = 0.041 / 0.959
    assert cut.medium / (1 - cut.medium) == pytest.approx(1.5 * odds)
    assert cut.high / (1 - cut.high) == pytest.approx(3 * odds)
    assert cut.describe() == "relative to base rate 4.1%: medium ≥ 6.0%, high ≥ 11.4%"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.001, 0.999), min_size=1, max_size=300), st.integers(1, 400))
def test_capacity_gives_exactly_k(probs: list[float], k: int) -> None:
    p = np.array(probs)
    p[: len(p) // 2] = 0.5  # ties across the K-th place
    bands = RiskBands(rule="capacity", capacity=CapacityBands(accounts=k))
    names, cut = band_accounts(bands, p, mrr=np.ones(len(p)), account_ids=np.arange(len(p)))
    assert _counts(names)["high"] == min(k, len(p))
    assert p[names == "high"].min() >= p[names != "high"].max(initial=0.0)  # the riskiest, never a lower one
    assert cut.rule == "capacity" and cut.high == pytest.approx(p[names == "high"].min())


def test_capacity_by_mrr_share() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    mrr = np.array([100.0, 100.0, 300.0, 400.0, 100.0])  # 1000 in all
    names, cut = band_accounts(RiskBands(rule="capacity", capacity=CapacityBands(mrr_share=0.2)), p, mrr)
    assert list(names == "high") == [True, True, False, False, False]  # 200 of 1000 reached
    names, _ = band_accounts(RiskBands(rule="capacity", capacity=CapacityBands(mrr_share=0.25)), p, mrr)
    assert list(names == "high") == [True, True, True, False, False]  # first to reach 250
    assert "20% of MRR" in cut.describe()


def test_absolute_keeps_todays_thresholds() -> None:
    names, cut = band_accounts(RiskBands(rule="absolute"), [0.05, 0.1, 0.3])
    assert list(names) == ["low", "medium", "high"] and (cut.medium, cut.high) == (0.10, 0.25)
    assert cut.describe() == "absolute thresholds: medium ≥ 10.0%, high ≥ 25.0%"


def test_cut_round_trips_and_bands_alone() -> None:
    _, cut = band_accounts(RiskBands(), np.linspace(0.01, 0.3, 50))
    again = BandCut.from_json(cut.to_json())
    assert again == cut and BandCut.from_json(None) is None
    assert list(again.assign([cut.medium - 1e-9, cut.medium, cut.high])) == ["low", "medium", "high"]


def test_band_config_is_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match="exactly one of accounts or mrr_share"):
        CapacityBands(accounts=5, mrr_share=0.1)
    with pytest.raises(ValueError, match=r"rule: capacity needs scoring\.bands\.capacity"):
        RiskBands(rule="capacity")
    with pytest.raises(ValueError, match="the rule is relative; set rule: capacity"):
        RiskBands(capacity=CapacityBands(accounts=3))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scoring:\n  bands:\n    rule: capacity\n    capacity: {acounts: 50}\n")
    with pytest.raises(ConfigError, match="Did you mean `accounts`"):
        load_settings(cfg, environ={})
    cfg.write_text("scoring:\n  bands:\n    rule: capacity\n    capacity: {accounts: 50}\n")
    assert load_settings(cfg, environ={}).scoring.bands.capacity == CapacityBands(accounts=50)
