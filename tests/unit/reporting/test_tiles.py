"""The KPI tiles' figures on a hand-made book: the trailing cohort, annualised rates, the period before, formats."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnml.reporting.tiles import Period, annualised, fmt, kpi_tiles, prior_months, trailing

MONTHS = [dt.date(2024, m, 1) for m in range(1, 13)]


def _subs() -> pd.DataFrame:
    """A: $100 all year. B: $200, lapses in July. C: $100 upgraded to $150 in June. D: signs up in March."""
    return pd.DataFrame({
        "account_id": ["A", "B", "C", "C", "D"],
        "start_date": pd.to_datetime(["2023-06-01", "2023-06-01", "2023-06-01", "2024-06-01", "2024-03-01"]),
        "end_date": pd.to_datetime([None, "2024-06-30", "2024-05-31", None, None]),
        "mrr": [100.0, 200.0, 100.0, 150.0, 500.0],
    })


def test_trailing_follows_the_starting_customers_only() -> None:
    t = trailing(_subs(), MONTHS)
    assert t["customers"] == 3  # D signed up inside the period: not in the cohort
    assert t["logo_churn"] == pytest.approx(1 / 3)
    assert t["grr"] == pytest.approx((100 + 0 + 100) / 400)  # C's growth capped at its start MRR
    assert t["nrr"] == pytest.approx((100 + 0 + 150) / 400)


def test_annualised_and_prior_months() -> None:
    a = annualised({"logo_churn_rate": 0.02, "grr": 0.99, "nrr": 1.01})
    assert a["logo_churn"] == pytest.approx(1 - 0.98 ** 12) and a["grr"] == pytest.approx(0.99 ** 12)
    assert prior_months(MONTHS, dt.date(2023, 7, 1)) == [dt.date(2023, m, 1) for m in range(7, 13)]
    assert prior_months(MONTHS, dt.date(2020, 1, 1)) == [dt.date(2023, m, 1) for m in range(1, 13)]
    assert prior_months(MONTHS, dt.date(2024, 1, 1)) == []


def test_tiles_compare_trailing_figures_and_say_the_margin() -> None:
    row = {"logo_churn_rate": 0.03, "grr": 0.97, "nrr": 0.99, "arpa": 1234.5, "ltv": 41150.0, "nps": 20.0,
           "csat": 0.8, "ces": 3.1}
    cur = Period(MONTHS, row, {"logo_churn": 0.3, "grr": 0.7, "nrr": 0.85})
    before = Period([dt.date(2023, m, 1) for m in range(1, 13)], {**row, "nps": 25.0, "ltv": 50000.0},
                    {"logo_churn": 0.25, "grr": 0.75, "nrr": 0.9})
    tiles = {t.key: t for t in kpi_tiles(cur, before, gross_margin=0.8, has_costs=False)}
    assert tiles["grr"].value == "70.0%" and tiles["grr"].label == "GRR, trailing 12 months"
    assert tiles["grr"].change == "▼ 5.0 pts vs Jan 2023 – Dec 2023" and tiles["grr"].tone == "bad"
    assert tiles["logo_churn"].change.startswith("▲ 5.0 pts") and tiles["logo_churn"].tone == "bad"
    assert tiles["nps"].change.startswith("▼ 5.0 pts")
    assert tiles["ltv"].value == "$41,150" and "at 80% gross margin" in tiles["ltv"].lines[0]
    assert tiles["ltv"].change.startswith("▼ 17.7%")
    assert tiles["arpa"].value == "$1,234" and tiles["ces"].value == "3.10"
    assert tiles["cac"].value == "not provided" and "--costs FILE" in tiles["cac"].lines[0]
    default = {t.key: t for t in kpi_tiles(cur, None, gross_margin=1.0, has_costs=False)}
    assert "at 100% gross margin (the default" in default["ltv"].lines[0]
    assert default["grr"].change == "no earlier period in the data to compare with"


def test_formats() -> None:
    assert fmt(0.12345, "pct") == "12.3%" and fmt(1234567.8, "money") == "$1,234,568"
    assert fmt(57.163, "times") == "57.2×" and fmt(float("nan"), "money") == "–" and fmt(None, "pct") == "–"
