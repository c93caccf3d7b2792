"""Score store: history by as-of date, idempotent re-runs, atomic writes (failure injected mid-write), Parquet."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnml.scoring.store import ADDED_COLUMNS, COLUMNS, ScoreStore


def fake_scores(as_of: dt.date, n: int = 20, offset: float = 0.0, version: str = "1") -> pd.DataFrame:
    """A score table shaped like `score_accounts` output (values arbitrary but valid)."""
    ids = [f"A{i:04d}" for i in range(n)]
    p = [min(0.99, 0.01 + i / (n + 1) + offset) for i in range(n)]
    return pd.DataFrame({
        "account_id": ids,
        "as_of": pd.Timestamp(as_of),
        "churn_probability": p,
        "risk_band": ["high" if x >= 0.25 else "medium" if x >= 0.1 else "low" for x in p],
        "mrr": [100.0 * (i + 1) for i in range(n)],
        "mrr_at_risk": [x * 100.0 * (i + 1) for i, x in enumerate(p)],
        "change_points": [None] * n,
        "previous_as_of": pd.NaT,
        "previous_probability": [None] * n,
        "change_by_theme": [None] * n,
        "change_text": [None] * n,
        "risk_drivers": [json.dumps([{"feature": "days_to_renewal", "theme": "commercial", "contribution": 0.3,
                                      "sentence": "Renewal in 12 days"}])] * n,
        "protective_factors": ["[]"] * n,
        "theme_contributions": [json.dumps({"usage": 0.1})] * n,
        "raw_score": [-2.0] * n,
        "base_value": [-2.1] * n,
        "model_name": "churn-risk",
        "model_version": version,
        "segment": ["SMB" if i % 2 else "Enterprise" for i in range(n)],
        "csm_id": [f"C{i % 3}" for i in range(n)],
        "scored_at": pd.Timestamp("2025-01-01 10:00"),
    })


D1, D2, D3 = dt.date(2025, 1, 6), dt.date(2025, 1, 13), dt.date(2025, 1, 20)


@pytest.fixture
def store(tmp_path: Path) -> ScoreStore:
    s = ScoreStore.from_work_dir(tmp_path / "work")
    s.write(fake_scores(D1))
    s.write(fake_scores(D2, offset=0.05))
    return s


def test_history_is_kept_by_as_of_date(store: ScoreStore) -> None:
    assert store.path.name == "scores.duckdb"
    assert store.as_of_dates() == [D1, D2]
    every = store.read()
    assert list(every.columns) == list(COLUMNS) and len(every) == 40
    one = store.read(D2)
    assert len(one) == 20 and set(pd.to_datetime(one["as_of"]).dt.date) == {D2}
    assert json.loads(one["risk_drivers"].iloc[0])[0]["sentence"] == "Renewal in 12 days"


def test_previous_is_each_accounts_latest_before(store: ScoreStore) -> None:
    prev = store.previous(D3)
    assert len(prev) == 20 and set(pd.to_datetime(prev["as_of"]).dt.date) == {D2}
    assert set(pd.to_datetime(store.previous(D2)["as_of"]).dt.date) == {D1}
    assert store.previous(D1).empty
    assert ScoreStore(store.path.parent / "none.duckdb").previous(D1).empty


def test_rerunning_a_date_replaces_its_rows(store: ScoreStore) -> None:
    before = store.read()
    store.write(fake_scores(D2, offset=0.05))  # same run again: same table
    after = store.read()
    pd.testing.assert_frame_equal(before, after)
    store.write(fake_scores(D2, n=5, offset=0.2))  # a different run of D2 replaces D2 only
    assert len(store.read(D2)) == 5 and len(store.read(D1)) == 20
    assert store.read(D2)["churn_probability"].iloc[0] == pytest.approx(0.01 + 0.2)


def test_failure_mid_write_leaves_previous_scores_intact(store: ScoreStore, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store.read()

    def half_then_fail(self: ScoreStore, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM scores WHERE as_of = ?", [D1])  # and some damage to another date
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        con.execute(f"INSERT INTO scores SELECT {cols} FROM incoming LIMIT 10")
        raise RuntimeError("disk full")

    monkeypatch.setattr(ScoreStore, "_insert", half_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        store.write(fake_scores(D2, offset=0.3))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.read(), before)  # the delete of D2 and the partial insert rolled back


def test_a_bad_batch_changes_nothing(store: ScoreStore) -> None:
    before = store.read()
    dup = pd.concat([fake_scores(D2, offset=0.4), fake_scores(D2, n=2)])  # duplicate keys: fails on insert
    with pytest.raises(duckdb.Error):
        store.write(dup)
    pd.testing.assert_frame_equal(store.read(), before)
    with pytest.raises(ValueError, match="risk_band"):
        store.write(fake_scores(D3).drop(columns="risk_band"))
    assert store.as_of_dates() == [D1, D2]


def test_parquet_export(store: ScoreStore, tmp_path: Path) -> None:
    n = store.export_parquet(tmp_path / "out" / "scores.parquet")
    back = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert n == 40 and len(back) == 40 and list(back.columns) == list(COLUMNS)
    assert store.export_parquet(tmp_path / "d1.parquet", as_of=D1) == 20
    with pytest.raises(FileNotFoundError):
        ScoreStore(tmp_path / "empty.duckdb").export_parquet(tmp_path / "x.parquet")


def test_a_store_from_before_the_added_columns_gains_them(tmp_path: Path) -> None:
    """Stores written before `signals` (and the names) existed keep their rows and get the columns (null) on the
    next write."""
    path = tmp_path / "old.duckdb"
    old_columns = {c: t for c, t in COLUMNS.items() if c not in ADDED_COLUMNS}
    con = duckdb.connect(str(path))
    cols = ", ".join(f'"{c}" {t}' for c, t in old_columns.items())
    con.execute(f"CREATE TABLE scores ({cols}, PRIMARY KEY (account_id, as_of))")
    first = fake_scores(dt.date(2025, 1, 6))
    con.register("f", first[list(old_columns)])
    con.execute("INSERT INTO scores SELECT * FROM f")
    con.close()
    store = ScoreStore(path)
    second = fake_scores(dt.date(2025, 1, 13)).assign(signals='{"mrr": 100.0}')
    store.write(second)
    every = store.read()
    assert list(every.columns) == list(COLUMNS) and len(every) == 40
    assert every.loc[every["as_of"] == pd.Timestamp("2025-01-06"), "signals"].isna().all()
    assert (every.loc[every["as_of"] == pd.Timestamp("2025-01-13"), "signals"] == '{"mrr": 100.0}').all()
    assert every["context_facts"].isna().all() and every["theme_points"].isna().all()


def test_a_store_held_by_another_process_names_it_and_can_be_waited_for(tmp_path: Path) -> None:
    """DuckDB's lock error becomes one message naming the holder's PID and command line; `wait_s` waits."""
    import time

    from churnml.scoring.store import StoreLockedError
    from tests.support.store_lock import held_by_another_process

    path = tmp_path / "scores.duckdb"
    ScoreStore(path).write(fake_scores(dt.date(2025, 1, 6)))
    with held_by_another_process(path) as holder:
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError) as err:
            ScoreStore(path).write(fake_scores(dt.date(2025, 1, 13)))
        assert time.monotonic() - t0 < 2 and err.value.pid == holder.pid
        message = str(err.value)
        assert f"in use by process {holder.pid} (" in message and "duckdb.connect" in message  # its command line
        assert f"kill {holder.pid}" in message and "CHURNML_SCORING__STORE_WAIT_S" in message
        with pytest.raises(StoreLockedError, match=r"after waiting 0\.5 s"):
            ScoreStore(path, wait_s=0.5).read()
    with held_by_another_process(path, release_after_s=1.0):
        assert ScoreStore(path, wait_s=20).write(fake_scores(dt.date(2025, 1, 13))) == 20  # waited, then wrote
    assert ScoreStore(path).as_of_dates() == [dt.date(2025, 1, 6), dt.date(2025, 1, 13)]
