"""KPI report benchmark: monthly logos and revenue (GRR/NRR, movements), experience, cohorts and the HTML at scale,
with the revenue table checked against an independent DuckDB SQL implementation of the same definitions.

Data: synthetic contract tables (no events needed for the KPIs): N accounts signing up over four years, chains of
1-12 month terms with MRR changing at renewals, churn, and win-backs after 1-7 months; one survey answer in
three account-months. The baseline is the DuckDB SQL query (same snapshots, grace 0): it gives parity and a time
to compare with. Writes the "KPI report" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.kpi_report [--accounts 20000 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

START = dt.date(2021, 1, 1)
AS_OF = dt.date(2025, 1, 15)


def synthetic_tables(accounts: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """accounts, subscriptions (terms, churn, reactivations), surveys: contract-shaped, seeded."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"A{i:07d}" for i in range(accounts)])
    seg = rng.choice(["SMB", "Mid-Market", "Enterprise"], accounts, p=[0.6, 0.3, 0.1])
    acc = pd.DataFrame({"account_id": ids, "segment": seg, "csm_id": rng.choice([f"CSM{i:02d}" for i in range(40)],
                                                                              accounts)})
    base = np.where(seg == "SMB", 300.0, np.where(seg == "Mid-Market", 2500.0, 15000.0))
    start = pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 4 * 365, accounts), unit="D")
    mrr = base * rng.lognormal(0, 0.4, accounts)
    alive = np.ones(accounts, dtype=bool)
    rows = []
    horizon = pd.Timestamp(AS_OF) + pd.Timedelta(days=400)
    while alive.any():
        idx = np.nonzero(alive)[0]
        months = rng.choice([1, 1, 1, 3, 12], len(idx))
        end = start[idx] + pd.to_timedelta(months * 30, unit="D")
        churn = rng.random(len(idx)) < 0.04 * months
        rows.append(pd.DataFrame({"account_id": ids[idx], "start_date": start[idx], "end_date": end,
                                  "mrr": mrr[idx].round(2), "plan": "p", "seats": 1}))
        back = churn & (rng.random(len(idx)) < 0.2)
        nxt = end + pd.Timedelta(days=1) + pd.to_timedelta(np.where(back, rng.integers(30, 210, len(idx)), 0),
                                                          unit="D")
        start = start.to_numpy().copy()
        start[idx] = nxt
        start = pd.DatetimeIndex(start)
        mrr[idx] *= rng.lognormal(0.01, 0.1, len(idx))
        alive[idx] = (~churn | back) & (nxt < horizon)
    subs = pd.concat(rows, ignore_index=True)
    open_end = subs.groupby("account_id")["start_date"].transform("max").eq(subs["start_date"]) & (
        subs["end_date"] > pd.Timestamp(AS_OF))
    subs.loc[open_end, "end_date"] = pd.NaT
    subs["start_date"] = subs["start_date"].dt.date
    subs["end_date"] = subs["end_date"].dt.date.where(subs["end_date"].notna(), None)
    n_answers = accounts * 48 // 3
    surveys = pd.DataFrame({
        "account_id": ids[rng.integers(0, accounts, n_answers)],
        "ts": pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 4 * 365 * 24, n_answers), unit="h"),
        "kind": rng.choice(["nps", "csat", "ces"], n_answers),
    })
    scale = surveys["kind"].map({"nps": 11, "csat": 5, "ces": 7}).to_numpy()
    surveys["score"] = (rng.integers(0, 1 << 30, n_answers) % scale + (surveys["kind"] != "nps")).astype(float)
    return {"accounts": acc, "subscriptions": subs, "surveys": surveys}


SQL = """
WITH edges AS (SELECT unnest(?::DATE[]) AS day),
subs AS (SELECT account_id, start_date, coalesce(end_date, DATE '9999-12-31') AS end_date, mrr FROM subscriptions),
state AS (
  SELECT s.account_id, e.day, sum(s.mrr) AS mrr
  FROM subs s JOIN edges e ON s.start_date <= e.day AND s.end_date >= e.day
  GROUP BY ALL),
first AS (SELECT account_id, min(start_date) AS first_start FROM subs GROUP BY ALL),
pairs AS (SELECT day AS m0, lead(day) OVER (ORDER BY day) AS m1 FROM edges),
moves AS (
  SELECT p.m0, f.account_id, a.mrr AS mrr0, b.mrr AS mrr1, f.first_start < p.m0 AS before
  FROM pairs p CROSS JOIN first f
  LEFT JOIN state a ON a.account_id = f.account_id AND a.day = p.m0
  LEFT JOIN state b ON b.account_id = f.account_id AND b.day = p.m1
  WHERE p.m1 IS NOT NULL AND (a.mrr IS NOT NULL OR b.mrr IS NOT NULL))
SELECT m0 AS month,
  count(mrr0) AS customers_start,
  count(*) FILTER (WHERE mrr0 IS NOT NULL AND mrr1 IS NULL) AS churned,
  count(*) FILTER (WHERE mrr0 IS NULL AND NOT before) AS new,
  count(*) FILTER (WHERE mrr0 IS NULL AND before) AS reactivated,
  coalesce(sum(mrr0), 0) AS mrr_start,
  coalesce(sum(mrr0) FILTER (WHERE mrr1 IS NULL), 0) AS churned_mrr,
  coalesce(sum(greatest(mrr1 - mrr0, 0)) FILTER (WHERE mrr0 IS NOT NULL AND mrr1 IS NOT NULL), 0) AS expansion_mrr,
  coalesce(sum(greatest(mrr0 - mrr1, 0)) FILTER (WHERE mrr0 IS NOT NULL AND mrr1 IS NOT NULL), 0) AS contraction_mrr
FROM moves GROUP BY m0 ORDER BY m0
"""


def duckdb_revenue(subs: pd.DataFrame, months: list[dt.date]) -> pd.DataFrame:
    """The baseline: the monthly logo and MRR movements in one DuckDB SQL query (grace 0)."""
    import duckdb

    last = months[-1]
    edges = [*months, dt.date(last.year + last.month // 12, last.month % 12 + 1, 1)]
    con = duckdb.connect()
    con.register("subscriptions", subs)
    return con.execute(SQL, [edges]).df()


def one(accounts: int) -> dict[str, float]:
    from benchmarks.report import peak_rss_mb
    from churnml.reporting import kpi
    from churnml.reporting.report import compute_report, render_html

    tables = synthetic_tables(accounts)
    months = kpi.complete_months(AS_OF, 12)
    t0 = time.perf_counter()
    report = compute_report(tables, AS_OF, months=12, grace_days=0)
    t_kpi = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = render_html(report)
    t_html = time.perf_counter() - t0
    t0 = time.perf_counter()
    revenue = kpi.revenue_monthly(tables["subscriptions"], months)
    t_rev = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = duckdb_revenue(tables["subscriptions"], months)
    t_sql = time.perf_counter() - t0
    cols = ["customers_start", "churned", "new", "reactivated", "mrr_start", "churned_mrr", "expansion_mrr",
            "contraction_mrr"]
    diff = float(np.max(np.abs(revenue[cols].to_numpy(dtype=float) - base[cols].to_numpy(dtype=float))))
    return {"accounts": accounts, "subscriptions": len(tables["subscriptions"]), "answers": len(tables["surveys"]),
            "report_s": t_kpi, "html_s": t_html, "html_mb": len(html) / 1e6, "revenue_s": t_rev, "sql_s": t_sql,
            "max_abs_diff": diff, "reactivations": int(revenue["reactivated"].sum()),
            "nrr": float(kpi.summarise_period(revenue)["nrr"].iloc[0]), "peak_rss_mb": peak_rss_mb()}


def main() -> int:
    from benchmarks.report import machine, update_section

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[20_000, 100_000])
    args = parser.parse_args()
    results = []
    for n in args.accounts:
        r = one(n)
        print(r, flush=True)
        results.append(r)
    rows = "\n".join(
        f"| {r['accounts']:,} | {r['subscriptions']:,} | {r['answers']:,} | {r['report_s']:.1f} s | "
        f"{r['html_s']:.1f} s ({r['html_mb']:.1f} MB) | {r['revenue_s']:.2f} s | {r['sql_s']:.2f} s | "
        f"{r['max_abs_diff']:.1e} | {r['peak_rss_mb']:,.0f} MB |" for r in results)
    body = f"""`.venv/bin/python -m benchmarks.kpi_report` — {machine()}, {dt.date.today()}; a shared machine (other
engineers' jobs running), so times are indicative.

Synthetic contract tables (terms of 1–12 months, MRR changes at renewals, churn, win-backs), 12 complete months
reported. *report*: `churnml.reporting.report.compute_report` (monthly KPIs whole base, by segment and by CSM;
experience;
pooled summaries; retention curves by signup cohort; no deciles, no scorings). *HTML*: drawing the figures and
rendering. *revenue*: `kpi.revenue_monthly` alone against the same definitions written as one DuckDB SQL query
(the baseline); *max diff*: largest absolute difference between the two over counts and MRR sums (parity).

| accounts | subscriptions | answers | report | HTML | revenue (pandas) | revenue (SQL) | max diff | peak RSS |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}
"""
    update_section("KPI report", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
