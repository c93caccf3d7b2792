"""CS KPIs against hand-computed examples: logos, MRR movements, GRR/NRR, LTV, CAC, NPS/CSAT/CES, eNPS.

The book (three months, Jan–Mar 2024, snapshots on the 1st):
- A (SMB, C1): 100 until Jan 31, then 150 — expansion of 50 in January.
- B (SMB, C1): 200, ends Feb 10 — churns in February.
- C (Enterprise, C2): 1000, ends Jan 15; returns Mar 5 at 800 — churn in January, reactivation in March.
- D (Enterprise, C2): 500 until Feb 29, then 400 — contraction of 100 in February.
- E (SMB, C2): new on Jan 20 at 50.
March has no churn.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from churnml.reporting import costs, kpi

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
MONTHS = [JAN, FEB, MAR]


def _d(s: object) -> dt.date | None:
    return dt.date.fromisoformat(s) if isinstance(s, str) else None


ACCOUNTS = pd.DataFrame({
    "account_id": list("ABCDE"),
    "segment": ["SMB", "SMB", "Enterprise", "Enterprise", "SMB"],
    "csm_id": ["C1", "C1", "C2", "C2", "C2"],
})
SUBS = pd.DataFrame(
    [("A", "2023-06-01", "2024-01-31", 100.0), ("A", "2024-02-01", None, 150.0),
     ("B", "2023-01-01", "2024-02-10", 200.0),
     ("C", "2023-03-01", "2024-01-15", 1000.0), ("C", "2024-03-05", None, 800.0),
     ("D", "2023-01-01", "2024-02-29", 500.0), ("D", "2024-03-01", None, 400.0),
     ("E", "2024-01-20", None, 50.0)],
    columns=["account_id", "start_date", "end_date", "mrr"],
).assign(start_date=lambda d: d["start_date"].map(_d), end_date=lambda d: d["end_date"].map(_d))


def _ts(day: str) -> pd.Timestamp:
    return pd.Timestamp(day)


SURVEYS = pd.DataFrame(
    [("A", "2024-01-05", "nps", 10), ("A", "2024-01-06", "nps", 9), ("B", "2024-01-07", "nps", 8),
     ("B", "2024-01-08", "nps", 6), ("D", "2024-01-09", "nps", 0),
     ("A", "2024-01-10", "csat", 5), ("B", "2024-01-11", "csat", 4), ("D", "2024-01-12", "csat", 3),
     ("D", "2024-01-13", "csat", 1), ("A", "2024-01-14", "ces", 2), ("D", "2024-01-15", "ces", 4),
     ("A", "2024-02-02", "nps", 10), ("D", "2024-02-03", "nps", 10), ("E", "2024-02-04", "nps", 7)],
    columns=["account_id", "ts", "kind", "score"],
).assign(ts=lambda d: d["ts"].map(_ts), score=lambda d: d["score"].astype(float))


def _row(df: pd.DataFrame, month: dt.date, **keys: str) -> pd.Series:
    sel = df["month"] == pd.Timestamp(month)
    for k, v in keys.items():
        sel &= df[k] == v
    assert sel.sum() == 1
    return df[sel].iloc[0]


# --------------------------------------------------------------------------- logos and revenue


def test_revenue_months_by_hand() -> None:
    r = kpi.revenue_monthly(SUBS, MONTHS)
    assert list(r["month"]) == [pd.Timestamp(m) for m in MONTHS]
    jan, feb, _mar = (_row(r, m) for m in MONTHS)
    # January: C churns (1000), A expands by 50, E is new
    assert (jan.customers_start, jan.churned, jan.new, jan.reactivated, jan.customers_end) == (4, 1, 1, 0, 4)
    assert (jan.mrr_start, jan.churned_mrr, jan.expansion_mrr, jan.contraction_mrr, jan.new_mrr, jan.mrr_end) == (
        1800, 1000, 50, 0, 50, 900)
    assert jan.logo_churn_rate == pytest.approx(0.25) and jan.retention_rate == pytest.approx(0.75)
    assert jan.grr == pytest.approx(800 / 1800) and jan.nrr == pytest.approx(850 / 1800)
    assert jan.arpa == pytest.approx(450) and jan.ltv == pytest.approx(1800)
    # February: B churns (200), D contracts by 100
    assert (feb.customers_start, feb.churned, feb.new, feb.reactivated) == (4, 1, 0, 0)
    assert (feb.mrr_start, feb.churned_mrr, feb.contraction_mrr, feb.expansion_mrr, feb.mrr_end) == (
        900, 200, 100, 0, 600)
    assert feb.grr == pytest.approx(600 / 900) and feb.nrr == pytest.approx(600 / 900)


def test_month_without_churn_and_reactivation() -> None:
    mar = _row(kpi.revenue_monthly(SUBS, MONTHS), MAR)
    # C comes back: a reactivation, not a new logo, and it does not lift NRR (not in the starting base)
    assert (mar.customers_start, mar.churned, mar.new, mar.reactivated, mar.customers_end) == (3, 0, 0, 1, 4)
    assert mar.reactivation_mrr == 800 and mar.new_mrr == 0 and mar.mrr_end == 1400
    assert mar.logo_churn_rate == 0 and mar.retention_rate == 1
    assert mar.grr == 1 and mar.nrr == 1
    assert math.isnan(mar.ltv)  # no churn: lifetime undefined, not infinite


def test_mrr_bridge_holds() -> None:
    r = kpi.revenue_monthly(SUBS, MONTHS)
    bridge = (r["mrr_start"] + r["new_mrr"] + r["reactivation_mrr"] + r["expansion_mrr"] - r["contraction_mrr"]
              - r["churned_mrr"])
    np.testing.assert_allclose(bridge, r["mrr_end"])
    np.testing.assert_array_equal(r["customers_start"] + r["new"] + r["reactivated"] - r["churned"],
                                  r["customers_end"])
    np.testing.assert_array_equal(r["customers_end"].iloc[:-1].to_numpy(), r["customers_start"].iloc[1:].to_numpy())


def test_grace_period_bridges_a_short_lapse() -> None:
    # C's gap (Jan 16 – Mar 4, 49 days) is bridged with 60 days' grace: no churn, no reactivation; inside the gap
    # C keeps its last MRR (1000), and the return at 800 is a contraction
    r = kpi.revenue_monthly(SUBS, MONTHS, grace_days=60)
    jan, mar = _row(r, JAN), _row(r, MAR)
    assert jan.churned == 0 and jan.churned_mrr == 0 and jan.mrr_end == 1900
    assert mar.reactivated == 0 and mar.contraction_mrr == 200
    blocks = kpi.coverage_blocks(SUBS, 60)
    assert (blocks["account_id"] == "C").sum() == 1
    assert (kpi.coverage_blocks(SUBS, 0)["account_id"] == "C").sum() == 2


def test_by_segment_and_csm() -> None:
    seg = kpi.revenue_monthly(SUBS, MONTHS, accounts=ACCOUNTS, by="segment")
    assert set(seg["segment"]) == {"SMB", "Enterprise"}
    smb, ent = _row(seg, JAN, segment="SMB"), _row(seg, JAN, segment="Enterprise")
    assert (smb.customers_start, smb.new, smb.churned, smb.expansion_mrr, smb.mrr_start) == (2, 1, 0, 50, 300)
    assert (ent.customers_start, ent.churned, ent.churned_mrr, ent.mrr_start) == (2, 1, 1000, 1500)
    assert ent.grr == pytest.approx(500 / 1500) and smb.nrr == pytest.approx(350 / 300)
    whole = kpi.revenue_monthly(SUBS, MONTHS)
    for col in kpi.REVENUE_SUMS:  # the groups add up to the whole base
        np.testing.assert_allclose(seg.groupby("month")[col].sum().to_numpy(), whole[col].to_numpy())
    csm = kpi.revenue_monthly(SUBS, MONTHS, accounts=ACCOUNTS, by="csm_id")
    assert _row(csm, FEB, csm_id="C1").churned == 1 and _row(csm, FEB, csm_id="C2").contraction_mrr == 100
    with pytest.raises(ValueError, match="no column 'region'"):
        kpi.revenue_monthly(SUBS, MONTHS, accounts=ACCOUNTS, by="region")


def test_period_pooled() -> None:
    s = kpi.summarise_period(kpi.revenue_monthly(SUBS, MONTHS), gross_margin=0.8).iloc[0]
    assert s.customers_start == 11 and s.churned == 2 and s.months == 3
    assert s.logo_churn_rate == pytest.approx(2 / 11)
    assert s.grr == pytest.approx((3300 - 1200 - 100) / 3300)
    assert s.nrr == pytest.approx((3300 - 1200 - 100 + 50) / 3300)
    assert s.arpa == pytest.approx(300) and s.ltv == pytest.approx(300 * 0.8 * 11 / 2)


def test_months() -> None:
    assert kpi.month_starts(dt.date(2023, 11, 15), dt.date(2024, 2, 1)) == [
        dt.date(2023, 11, 1), dt.date(2023, 12, 1), dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    # the month holding the as-of date is not complete; a month ending the day before is
    assert kpi.complete_months(dt.date(2024, 4, 15), 3) == [JAN, FEB, MAR]
    assert kpi.complete_months(dt.date(2024, 4, 1), 2) == [FEB, MAR]
    assert kpi.complete_months(dt.date(2025, 1, 1), 14)[0] == dt.date(2023, 11, 1)


# --------------------------------------------------------------------------- experience


def test_survey_formulas() -> None:
    assert kpi.nps(pd.Series([10, 9, 8, 6, 0])) == pytest.approx(0.0)
    assert kpi.nps(pd.Series([10, 10, 7])) == pytest.approx(200 / 3)
    assert kpi.nps(pd.Series([0, 6])) == -100 and kpi.nps(pd.Series([9])) == 100
    assert kpi.csat(pd.Series([5, 4, 3, 1])) == 0.5
    assert kpi.ces(pd.Series([2, 4, np.nan])) == 3
    assert all(math.isnan(f(pd.Series([], dtype=float))) for f in (kpi.nps, kpi.csat, kpi.ces))


def test_experience_monthly_and_response_rates() -> None:
    tickets = pd.DataFrame({"account_id": ["A", "B"], "opened_at": [_ts("2024-01-02"), _ts("2024-01-30")],
                            "closed_at": [_ts("2024-01-03"), _ts("2024-02-02")], "effort_score": [6.0, 2.0]})
    e = kpi.experience_monthly(SURVEYS, MONTHS, tickets=tickets)
    jan, feb, mar = (_row(e, m) for m in MONTHS)
    assert jan.nps == pytest.approx(0) and jan.nps_responses == 5
    assert jan.csat == 0.5 and jan.csat_responses == 4 and jan.ces == 3 and jan.ces_responses == 2
    assert jan.ticket_ces == 6 and feb.ticket_ces == 2  # counted in the month the ticket closed
    assert feb.nps == pytest.approx(200 / 3) and math.isnan(feb.csat) and feb.csat_responses == 0
    assert math.isnan(mar.nps) and mar.nps_responses == 0 and mar.responding_accounts == 0
    rated = kpi.response_rates(e, kpi.revenue_monthly(SUBS, MONTHS))
    assert _row(rated, JAN).response_rate == pytest.approx(3 / 4)  # A, B, D answered; 4 customers at Jan 1
    assert _row(rated, FEB).response_rate == pytest.approx(3 / 4)  # A, D, E of A, B, D, E
    assert _row(rated, MAR).response_rate == 0


def test_no_surveys_gives_nan_not_zero() -> None:
    e = kpi.experience_monthly(None, MONTHS)
    assert len(e) == 3 and e[["nps", "csat", "ces", "ticket_ces"]].isna().all().all()
    assert (e["nps_responses"] == 0).all()
    s = kpi.summarise_period(kpi.revenue_monthly(SUBS, MONTHS), e, None).iloc[0]
    assert math.isnan(s.nps) and math.isnan(s.csat) and s.response_rate == 0
    empty = SURVEYS.iloc[:0]
    assert kpi.experience_monthly(empty, MONTHS, accounts=ACCOUNTS, by="segment")["nps"].isna().all()


def test_experience_by_segment_and_pooled() -> None:
    e = kpi.experience_monthly(SURVEYS, MONTHS, accounts=ACCOUNTS, by="segment")
    smb = _row(e, JAN, segment="SMB")  # A and B: 10, 9, 8, 6 -> 2 promoters, 1 detractor of 4
    assert smb.nps == pytest.approx(25) and smb.responding_accounts == 2
    assert _row(e, JAN, segment="Enterprise").nps == -100
    rev = kpi.revenue_monthly(SUBS, MONTHS, accounts=ACCOUNTS, by="segment")
    s = kpi.summarise_period(rev, e, SURVEYS, accounts=ACCOUNTS, by="segment").set_index("segment")
    # Enterprise answers over the period: 0 (Jan), 10 (Feb) -> 1 promoter, 1 detractor
    assert s.loc["Enterprise", "nps"] == 0 and s.loc["Enterprise", "nps_responses"] == 2
    assert s.loc["SMB", "csat"] == 1.0 and s.loc["Enterprise", "csat"] == 0.0
    # Enterprise starts: 1500 (Jan: C + D), 500 (Feb: D), 400 (Mar: D); C's churn 1000, D's contraction 100
    assert s.loc["Enterprise", "grr"] == pytest.approx((2400 - 1000 - 100) / 2400)


def test_enps() -> None:
    answers = pd.DataFrame({"csm_id": ["C1", "C1", "C2", "C2"], "score": [9.0, 10.0, 3.0, 8.0],
                            "ts": [_ts("2024-01-03"), _ts("2024-01-20"), _ts("2024-01-21"), _ts("2024-03-02")]})
    team = kpi.enps_monthly(answers, MONTHS)
    assert _row(team, JAN).enps == pytest.approx(100 / 3) and _row(team, JAN).enps_responses == 3
    assert math.isnan(_row(team, FEB).enps) and _row(team, MAR).enps == 0
    per = kpi.enps_monthly(answers, MONTHS, by_csm=True)
    assert _row(per, JAN, csm_id="C1").enps == 100 and _row(per, JAN, csm_id="C2").enps == -100
    assert kpi.enps_monthly(None, MONTHS)["enps"].isna().all()


# --------------------------------------------------------------------------- acquisition cost


def test_ltv_cac_per_account_and_per_month() -> None:
    rev = kpi.revenue_monthly(SUBS, MONTHS)
    summary = kpi.summarise_period(rev)  # LTV = 300 / (2/11) = 1650
    per_account = costs.cac(pd.DataFrame({"account_id": ["E"], "cost": [300.0]}), rev)
    assert per_account["cac"].iloc[0] == 300
    assert costs.ltv_cac(summary, per_account)["ltv_cac"].iloc[0] == pytest.approx(1650 / 300)
    # per month: cost of the reported months / new logos won in them (C's return is no acquisition)
    monthly = pd.DataFrame({"month": ["2024-01-01", "2024-03-01", "2023-12-01"], "cost": [400.0, 100.0, 9e9]})
    assert costs.cac(monthly, rev)["cac"].iloc[0] == 500
    seg_rev = kpi.revenue_monthly(SUBS, MONTHS, accounts=ACCOUNTS, by="segment")
    seg_costs = pd.DataFrame({"month": ["2024-01-01"] * 2, "segment": ["SMB", "Enterprise"], "cost": [80.0, 70.0]})
    c = costs.cac(seg_costs, seg_rev, accounts=ACCOUNTS, by="segment").set_index("segment")
    assert c.loc["SMB", "cac"] == 80 and math.isnan(c.loc["Enterprise", "cac"])  # no new Enterprise logo
    with pytest.raises(ValueError, match="'account_id' or a 'month'"):
        costs.cac(pd.DataFrame({"cost": [1.0]}), rev)


# --------------------------------------------------------------------------- agrees with the labels


def test_coverage_blocks_are_the_label_definition() -> None:
    """The KPI report has no copy of the churn definition: its blocks come from `churnml.training.labels` (a gap
    longer than the grace period starts a new block there, and here)."""
    import inspect

    rng = np.random.default_rng(0)
    rows = []
    for a in range(60):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 60)))
        for _ in range(int(rng.integers(1, 5))):
            end = day + dt.timedelta(days=int(rng.integers(10, 120)))
            last = rng.random() < 0.2
            rows.append((f"X{a}", day, None if last else end, 10.0))
            if last:
                break
            day = end + dt.timedelta(days=int(rng.integers(1, 40)))
    subs = pd.DataFrame(rows, columns=["account_id", "start_date", "end_date", "mrr"])
    blocks = kpi.coverage_blocks(subs, 14)
    assert len(blocks) > subs["account_id"].nunique()
    assert "churnml.training.labels" in inspect.getsource(kpi.coverage_blocks)
    # the rule itself, checked by hand: consecutive subscriptions at most 14 days apart share a block
    for account, group in subs.groupby("account_id"):
        g = group.sort_values("start_date")
        gaps = (pd.to_datetime(g["start_date"]).iloc[1:].to_numpy()
                - pd.to_datetime(g["end_date"]).iloc[:-1].to_numpy()) / np.timedelta64(1, "D")
        assert (blocks["account_id"] == account).sum() == 1 + int((gaps > 15).sum())
