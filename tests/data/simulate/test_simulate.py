"""Tests of the world simulator: determinism, the data contract, coverage, the truth table and the story's shape."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from churnml.data.contract import SURVEY_SCALES, TABLES
from churnml.simulate import SimulationSummary, simulate_world

START = dt.date(2023, 1, 1)
END = dt.date(2023, 7, 1)
FILES = {
    "accounts": "accounts.parquet",
    "subscriptions": "subscriptions.parquet",
    "tickets": "tickets.parquet",
    "surveys": "surveys.parquet",
    "csm_enps": "csm_enps.parquet",
    "csms": "csms.parquet",
}
TRUTH = "truth/monthly_churn_probability.parquet"


def _read(out: Path, name: str) -> pa.Table:
    if name == "events":
        return ds.dataset(out / "events", format="parquet").to_table()
    return pq.read_table(out / FILES.get(name, name))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("small")
    return out, simulate_world(out, 60, START, 6, seed=3, progress=False, chunk_accounts=25)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("medium")
    return out, simulate_world(out, 600, dt.date(2022, 1, 1), 18, seed=11, progress=False, chunk_accounts=300)


def test_same_seed_and_any_chunking_give_identical_content(small, tmp_path: Path) -> None:
    out, summary = small
    again = simulate_world(tmp_path / "a", 60, START, 6, seed=3, progress=False, chunk_accounts=25)
    other_chunks = simulate_world(tmp_path / "b", 60, START, 6, seed=3, progress=False, chunk_accounts=60)
    assert other_chunks.event_files == 1 and summary.event_files == 3
    for name in (*FILES, "events", TRUTH):
        ref = _read(out, name)
        assert ref.num_rows > 0, name
        assert ref.equals(_read(tmp_path / "a", name)), name
        assert ref.equals(_read(tmp_path / "b", name)), name
    different = simulate_world(tmp_path / "c", 60, START, 6, seed=4, progress=False)
    assert not ref.equals(_read(tmp_path / "c", TRUTH))
    assert (again.events, again.tickets) == (summary.events, summary.tickets)
    assert different.events != summary.events


_KINDS = {
    "string": pa.types.is_string,
    "timestamp": pa.types.is_timestamp,
    "date": pa.types.is_date32,
    "float": pa.types.is_float64,
    "int": pa.types.is_int64,
    "bool": pa.types.is_boolean,
    "id": lambda t: pa.types.is_string(t) or pa.types.is_int64(t),
}


@pytest.mark.parametrize("name", [*FILES, "events"])
def test_tables_follow_the_contract(small, name: str) -> None:
    out, _ = small
    spec = TABLES[name]
    table = _read(out, name)
    df = table.to_pandas()
    for col in spec.columns:
        if (name, col.name) == ("events", "event_id"):
            continue  # an optional key; the simulated log has none (its events are a log, see the contract)
        assert col.name in table.column_names, (name, col.name)
        assert _KINDS[col.kind](table.schema.field(col.name).type), (name, col.name, table.schema)
        values = df[col.name]
        if not col.nullable:
            assert values.notna().all(), (name, col.name)
        if col.allowed is not None:
            assert set(values.dropna()) <= set(col.allowed), (name, col.name)
        if col.min_value is not None:
            assert (values.dropna() >= col.min_value).all(), (name, col.name)
        if col.max_value is not None:
            assert (values.dropna() <= col.max_value).all(), (name, col.name)
        if col.kind == "timestamp":
            assert (values.dropna() < pd.Timestamp(END)).all(), (name, col.name)
    if name in ("subscriptions", "events", "tickets", "surveys"):
        key = [c for c in spec.unique_key if c in df.columns]
        assert not (df.duplicated(key) if key else df.duplicated()).any(), name
        accounts = set(_read(out, "accounts").column("account_id").to_pylist())
        assert set(df["account_id"]) <= accounts, name
    else:
        assert not df.duplicated(list(spec.unique_key)).any(), name


def test_extra_attributes_and_value_ranges(small) -> None:
    out, _ = small
    acc = _read(out, "accounts").to_pandas()
    assert {"employees", "acquisition_channel", "name"} <= set(acc.columns) and acc["name"].is_unique
    csms = _read(out, "csms").to_pandas()
    assert set(acc.csm_id) <= set(csms.csm_id) and csms["name"].notna().all()  # every CSM has a name
    assert set(acc.segment) <= {"SMB", "Mid-Market", "Enterprise"}
    assert (acc.created_at < pd.Timestamp(START)).any() and (acc.created_at >= pd.Timestamp(START)).any()
    subs = _read(out, "subscriptions").to_pandas()
    assert (subs.end_date.dropna() >= subs.loc[subs.end_date.notna(), "start_date"]).all()
    assert set(subs.term_months) <= {1, 12}
    surveys = _read(out, "surveys").to_pandas()
    for kind, (lo, hi) in SURVEY_SCALES.items():
        scores = surveys.loc[surveys.kind == kind, "score"]
        assert len(scores) > 0 and scores.between(lo, hi).all(), kind
    tickets = _read(out, "tickets").to_pandas()
    assert (tickets.closed_at.dropna() >= tickets.loc[tickets.closed_at.notna(), "opened_at"]).all()
    assert 0.2 < tickets.effort_score.isna().mean() < 0.7


def _coverage(subs: pd.DataFrame) -> pd.DataFrame:
    """One row per (account, covered day) in [START, END)."""
    end = (pd.Timestamp(END) - pd.Timedelta(days=1)).date()
    rows = []
    for r in subs.itertuples():
        last = end if pd.isna(r.end_date) else min(r.end_date, end)
        for day in pd.date_range(max(r.start_date, START), last, freq="D"):
            rows.append((r.account_id, day))
    return pd.DataFrame(rows, columns=["account_id", "day"]).drop_duplicates()


def test_activity_only_while_customer(small) -> None:
    out, _ = small
    covered = _coverage(_read(out, "subscriptions").to_pandas()).assign(ok=True)
    for name, col in (("events", "ts"), ("tickets", "opened_at"), ("surveys", "ts")):
        df = _read(out, name).select(["account_id", col]).to_pandas()
        df["day"] = df[col].dt.floor("D")
        merged = df.merge(covered, on=["account_id", "day"], how="left")
        assert merged.ok.notna().all(), f"{name}: {merged.ok.isna().sum()} rows outside subscriptions"


def test_truth_covers_exactly_the_customer_months(small) -> None:
    out, _ = small
    truth = _read(out, TRUTH).to_pandas()
    assert truth.p_churn.between(0, 1).all() and truth.health.notna().all()
    covered = _coverage(_read(out, "subscriptions").to_pandas())
    months = set(zip(covered.account_id, covered.day.dt.to_period("M").dt.start_time.dt.date, strict=True))
    assert set(zip(truth.account_id, truth.month, strict=True)) == months
    assert not truth.duplicated(["account_id", "month"]).any()


def test_unhappy_accounts_answer_fewer_surveys(medium) -> None:
    out, _ = medium
    truth = _read(out, TRUTH).to_pandas()
    tickets = _read(out, "tickets").to_pandas().dropna(subset=["closed_at"])
    tickets["month"] = tickets.opened_at.dt.to_period("M").dt.start_time.dt.date
    t = tickets.merge(truth, on=["account_id", "month"])
    t["quartile"] = pd.qcut(t.health, 4, labels=False)
    answered = t.effort_score.notna().groupby(t.quartile).mean()
    assert len(t) > 1000
    assert answered[0] < answered[3] - 0.1, answered


def test_usage_and_support_follow_health(medium) -> None:
    out, _ = medium
    truth = _read(out, TRUTH).to_pandas()
    ev = _read(out, "events").select(["account_id", "ts"]).to_pandas()
    ev["month"] = ev.ts.dt.to_period("M").dt.start_time.dt.date
    subs = _read(out, "subscriptions").to_pandas().groupby("account_id").seats.max()
    per = ev.groupby(["account_id", "month"]).size().rename("n").reset_index().merge(truth)
    per["per_seat"] = per.n / per.account_id.map(subs)
    assert per[["per_seat", "health"]].corr(method="spearman").iloc[0, 1] > 0.3


def test_annual_contracts_churn_at_renewal(medium) -> None:
    out, summary = medium
    subs = _read(out, "subscriptions").to_pandas().sort_values(["account_id", "start_date"])
    subs["next_start"] = subs.groupby("account_id").start_date.shift(-1)
    one_day = dt.timedelta(days=1)
    lapsed = subs[
        subs.end_date.notna() & (subs.next_start.isna() | (subs.next_start != subs.end_date + one_day))
    ]
    lapsed = lapsed[lapsed.end_date >= dt.date(2022, 1, 1)]
    annual = lapsed[lapsed.term_months == 12]
    full_term = (annual.end_date - annual.start_date).map(lambda d: d.days) >= 364
    assert len(annual) >= 10 and full_term.mean() > 0.8, full_term.mean()
    assert 0.05 < summary.renewal_churn_rate < 0.35


def test_monthly_churn_rate_is_plausible(medium) -> None:
    _, summary = medium
    assert 0.012 < summary.monthly_churn_rate < 0.035
    assert 0 < summary.churned_accounts <= summary.churn_events
    assert summary.events > 50 * summary.accounts


def test_future_window_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="after today"):
        simulate_world(tmp_path, 5, dt.date.today(), 1, seed=1, progress=False)


# ------------------------------------------------------------------------------- the day-level oracle


def test_spell_hazards_are_the_hazards_that_decided_churn(medium) -> None:
    out, _ = medium
    monthly = _read(out, TRUTH).to_pandas()
    hazard = _read(out, "truth/spell_hazard.parquet").to_pandas()
    assert hazard["p_churn"].between(0, 1).all() and (hazard["lo"] <= hazard["hi"]).all()
    # Every customer month's hazard (as the state machine used it) is the hazard of one of the account's spells.
    j = monthly.merge(hazard, on=["account_id", "month"], suffixes=("", "_spell"))
    j["match"] = (j["p_churn"] - j["p_churn_spell"]).abs() < 1e-12
    assert j.groupby(["account_id", "month"])["match"].any().all()
    # Annual renewal months carry a fixed churn day (the term end) inside the month.
    fixed = hazard.dropna(subset=["churn_day"])
    assert len(fixed) and ((fixed["churn_day"] >= fixed["lo"]) & (fixed["churn_day"] <= fixed["hi"])).all()


def test_oracle_is_calibrated_on_the_labels_the_pipeline_computes(medium) -> None:
    from churnml.config import DataConfig, Settings
    from churnml.data.load import load_data
    from churnml.simulate.oracle import oracle_probability, read_truth
    from churnml.training.frames import training_dates
    from churnml.training.labels import labels_expr

    out, _ = medium
    settings = Settings(work_dir=out / "work", data=DataConfig(dir=out))
    tables = load_data(settings, out).tables
    dates = training_dates(tables, 14, settings.labels.horizon_days)
    lab = labels_expr(tables, dates, settings.labels).to_pandas().dropna(subset=["churned"])
    p = oracle_probability(lab, read_truth(out), settings.labels.horizon_days, settings.labels.grace_days)
    y = lab["churned"].astype(float).to_numpy()
    # Calibration in the large within binomial noise (rows of an account are correlated: a generous 4 sd).
    sd = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * sd * np.sqrt(8)
    # And by decile of predicted risk: observed rates rise with the oracle and track it.
    dec = pd.qcut(p, 5, labels=False, duplicates="drop")
    rates = pd.DataFrame({"y": y, "p": p, "d": dec}).groupby("d").mean()
    assert rates["y"].is_monotonic_increasing
    assert (rates["y"] - rates["p"]).abs().max() < 0.03
