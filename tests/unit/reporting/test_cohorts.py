"""Cohort analysis: churn by decile, retention by signup cohort, risk bands vs realised churn, revenue at risk."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churnml.reporting import cohorts


def test_churn_by_decile_by_hand() -> None:
    # 20 labelled rows: x = 0..19, churners are x < 4 (both in decile 1 and 2); one missing x churned; one unlabelled
    frame = pd.DataFrame({
        "x": [*range(20), np.nan, 5.0],
        "churned": pd.array([i < 4 for i in range(20)] + [True, None], dtype="boolean"),
    })
    d = cohorts.churn_by_decile(frame, "x")
    known = d[d["decile"] > 0]
    assert list(known["decile"]) == list(range(1, 11)) and (known["rows"] == 2).all()
    assert list(known["churn_rate"]) == [1.0, 1.0] + [0.0] * 8
    assert list(known["lower"][:3]) == [0, 2, 4] and list(known["upper"][:3]) == [1, 3, 5]
    missing = d[d["decile"] == 0].iloc[0]
    assert missing.rows == 1 and missing.churn_rate == 1.0 and np.isnan(missing.lower)
    assert d["rows"].sum() == 21  # the unlabelled row is left out


def test_ties_share_a_bin() -> None:
    frame = pd.DataFrame({"x": [0.0] * 15 + [1.0, 2.0, 3.0, 4.0, 5.0], "churned": [False] * 10 + [True] * 10})
    d = cohorts.churn_by_decile(frame, "x")
    assert d.iloc[0]["rows"] == 15 and d.iloc[0]["lower"] == d.iloc[0]["upper"] == 0
    assert list(d["decile"]) == [1, 8, 9, 10] and list(d["rows"]) == [15, 1, 2, 2]  # rank-based bins
    constant = cohorts.churn_by_decile(frame.assign(x=1.0), "x")
    assert len(constant) == 1 and constant.iloc[0]["churn_rate"] == 0.5


def test_key_features_ranks_by_spread() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    strong = rng.normal(size=n)
    weak = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(3 * strong + 0.3 * weak - 2)))
    frame = pd.DataFrame({"strong": strong, "weak": weak, "noise": rng.normal(size=n),
                          "segment": pd.Categorical(rng.choice(["a", "b"], n)), "churned": rng.random(n) < p})
    assert cohorts.key_features(frame, ["noise", "weak", "strong", "segment", "absent"], top=2) == ["strong", "weak"]


def test_retention_curves_by_hand() -> None:
    subs = pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "d"],
        "start_date": [dt.date(2024, 1, 10), dt.date(2024, 1, 20), dt.date(2024, 2, 5), dt.date(2024, 1, 3),
                       dt.date(2024, 3, 1)],
        # a leaves after 2 months; b stays; c stays; d lapses Feb 1 - Mar 1 (a gap of 29 days), then returns
        "end_date": [dt.date(2024, 3, 15), None, dt.date(2024, 9, 1), dt.date(2024, 1, 31), None],
        "mrr": 1.0,
    })
    c = cohorts.retention_curves(subs, dt.date(2024, 5, 1), grace_days=0)
    jan = c[c["cohort"] == pd.Timestamp("2024-01-01")].set_index("months")
    assert (jan["accounts"] == 3).all()
    # month 0: all three; month 1 (Feb 10/20/03): a, b (d lapsed); month 2 (Mar 10/20/03): a, b, d back;
    # month 3 (Apr 10/20/03): b and d; month 4 would be May 3 >= as-of for d: the curve stops at month 3
    assert list(jan["retained"]) == [3, 2, 3, 2]
    assert jan.loc[1, "retention"] == pytest.approx(2 / 3)
    feb = c[c["cohort"] == pd.Timestamp("2024-02-01")]
    assert list(feb["months"]) == [0, 1, 2] and (feb["retention"] == 1).all()
    # the end in September is after the as-of date: not yet known, so c counts as retained
    bridged = cohorts.retention_curves(subs, dt.date(2024, 5, 1), grace_days=30)
    assert list(bridged[bridged["cohort"] == pd.Timestamp("2024-01-01")]["retained"]) == [3, 3, 3, 2]
    late = cohorts.retention_curves(subs, dt.date(2024, 5, 1), since=dt.date(2024, 2, 1))
    assert set(late["cohort"]) == {pd.Timestamp("2024-02-01")}


def _scores() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "e", "a", "b"],
        "as_of": pd.to_datetime(["2024-01-01"] * 5 + ["2024-02-01"] * 2),
        "churn_probability": [0.05, 0.08, 0.15, 0.4, 0.6, 0.02, 0.3],
        "risk_band": ["low", "low", "medium", "high", "high", "low", "high"],
        "mrr": [100.0, 200.0, 300.0, 400.0, 500.0, 100.0, 200.0],
        "mrr_at_risk": [5.0, 16.0, 45.0, 160.0, 300.0, 2.0, 60.0],
        "segment": ["SMB", "SMB", "Mid", "Mid", None, "SMB", "SMB"],
        "csm_id": ["C1", "C1", "C2", "C2", "C2", "C1", "C1"],
    })


def test_band_outcomes_by_hand() -> None:
    labels = pd.DataFrame({
        "account_id": ["a", "b", "c", "d", "e", "a", "b"],
        "as_of": [dt.date(2024, 1, 1)] * 5 + [dt.date(2024, 2, 1)] * 2,
        "churned": pd.array([False, True, False, True, False, None, None], dtype="boolean"),  # Feb: unknown yet
    })
    b = cohorts.band_outcomes(_scores(), labels)
    assert list(b["band"]) == ["low", "medium", "high"]
    low, med, high = (b.iloc[i] for i in range(3))
    assert (low.accounts, low.churned, low.realised) == (2, 1, 0.5) and low.predicted == pytest.approx(0.065)
    assert (med.accounts, med.realised) == (1, 0.0)
    assert high.accounts == 2 and high.predicted == pytest.approx(0.5) and high.churned_mrr == 400
    by_date = cohorts.band_outcomes(_scores(), labels, by_date=True)
    assert set(by_date["as_of"]) == {pd.Timestamp("2024-01-01")}
    assert low.realised_lo == 0.0 and low.realised_hi == 1.0  # two accounts, one churned: resamples give 0, ½, 1
    assert np.isnan(med.realised_lo) and np.isnan(med.realised_hi)  # one account: no interval from one unit
    known = b.dropna(subset=["realised_lo"])
    assert (known["realised_lo"] <= known["realised"]).all() and (known["realised"] <= known["realised_hi"]).all()


def test_rate_interval_draws_accounts_not_rows() -> None:
    # 40 accounts, half churned, each scored 10 times: 400 rows but 40 independent units
    y = pd.Series(np.repeat([1.0, 0.0] * 20, 10))
    acc = pd.Series(np.repeat(np.arange(40), 10))
    lo, hi = cohorts.rate_interval(y, acc, n_boot=400)
    rows_lo, rows_hi = cohorts.rate_interval(y, pd.Series(np.arange(400)), n_boot=400)
    assert lo < 0.5 < hi
    assert (hi - lo) > 2 * (rows_hi - rows_lo)  # clustered rows: a row bootstrap would be ~√10 too narrow


def test_realised_discrimination_has_intervals() -> None:
    rng = np.random.default_rng(0)
    n = 300
    p = rng.uniform(0.01, 0.9, n)
    scores = pd.DataFrame({"account_id": [f"a{i}" for i in range(n)], "as_of": dt.date(2024, 1, 1),
                           "churn_probability": p, "mrr": 100.0})
    labels = scores[["account_id", "as_of"]].assign(churned=rng.uniform(size=n) < p)
    d = cohorts.realised_discrimination(scores, labels)
    assert d is not None and d["accounts"] == n
    assert 0.6 < d["roc_auc_lo"] < d["roc_auc"] < d["roc_auc_hi"] < 1.0
    assert cohorts.realised_discrimination(scores, labels.assign(churned=False)) is None  # one class: no AUC


def test_scorings_with_outcomes() -> None:
    got = cohorts.scorings_with_outcomes(_scores(), dt.date(2024, 4, 15), horizon_days=90, grace_days=14)
    assert got == [dt.date(2024, 1, 1)]  # Jan 1 + 104 days = Apr 14; Feb 1 + 104 days = May 15
    assert cohorts.scorings_with_outcomes(_scores(), dt.date(2024, 4, 13), 90, 14) == []


def test_revenue_at_risk_by_segment_and_csm() -> None:
    s = _scores()
    s = s[s["as_of"] == pd.Timestamp("2024-01-01")]
    seg = cohorts.revenue_at_risk(s, "segment").set_index("segment")
    assert list(seg.index) == ["(none)", "Mid", "SMB"]  # largest MRR at risk first
    assert seg.loc["Mid", "mrr_at_risk"] == 205 and seg.loc["Mid", "high_risk"] == 1
    assert seg.loc["SMB", "expected_churn"] == pytest.approx(0.13) and seg.loc["SMB", "share_at_risk"] == 21 / 300
    csm = cohorts.revenue_at_risk(s, "csm_id").set_index("csm_id")
    assert csm["mrr_at_risk"].sum() == pytest.approx(s["mrr_at_risk"].sum()) and csm.loc["C2", "accounts"] == 3
