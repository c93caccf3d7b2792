"""Small, contract-valid input datasets for tests: frames in memory, written as a folder or a DuckDB file.

Tests take `valid_frames()`, break one thing, and write it with `write_dataset` / `write_duckdb`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

NOW = pd.Timestamp("2024-07-01 00:00:00")
"""An extract time after every timestamp in `valid_frames()`; pass it as `now=` for stable tests."""


def valid_frames() -> dict[str, pd.DataFrame]:
    """All six contract tables, 3 accounts, every row valid and every optional column present."""
    ts = pd.to_datetime
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": ["A1", "A2", "A3"],
                "created_at": ts(["2023-01-05", "2023-02-10", "2023-03-15"]),
                "segment": ["SMB", "Mid-Market", None],
                "industry": ["retail", "saas", "health"],
                "region": ["EU", "US", "EU"],
                "csm_id": ["C1", "C1", "C2"],
                "employees": [12, 250, 40],  # an extra static attribute: allowed on accounts
            }
        ),
        "subscriptions": pd.DataFrame(
            {
                "account_id": ["A1", "A2", "A3"],
                "start_date": ts(["2023-01-05", "2023-02-10", "2023-03-15"]).date,
                "end_date": [None, ts("2024-02-10").date(), None],
                "mrr": [100.0, 900.0, 250.0],
                "plan": ["basic", "pro", "basic"],
                "seats": [3, 20, 5],
                "term_months": [1, 12, 1],
            }
        ),
        "events": pd.DataFrame(
            {
                "account_id": ["A1", "A1", "A2", "A3", "A3"],
                "ts": ts(
                    ["2024-01-02 10:00", "2024-01-02 11:00", "2024-01-03 09:00", "2024-02-01 08:00", "2024-02-02 08:00"]
                ),
                "event_type": ["login", "login", "export", "login", "report"],
                "user_id": ["u1", "u2", "u3", "u4", "u4"],
                "value": [1.0, 1.0, 3.0, 1.0, 2.0],
            }
        ),
        "tickets": pd.DataFrame(
            {
                "account_id": ["A1", "A2", "A2"],
                "ticket_id": ["T1", "T2", "T3"],
                "opened_at": ts(["2024-01-10 09:00", "2024-01-11 09:00", "2024-03-01 12:00"]),
                "closed_at": [ts("2024-01-10 15:00"), None, ts("2024-03-02 08:00")],
                "priority": ["low", "urgent", "normal"],
                "effort_score": [2.0, None, 6.0],
                "reopened": [False, None, True],
            }
        ),
        "surveys": pd.DataFrame(
            {
                "account_id": ["A1", "A2", "A3"],
                "ts": ts(["2024-03-02 10:00", "2024-03-05 10:00", "2024-03-07 10:00"]),
                "kind": ["nps", "csat", "ces"],
                "score": [9.0, 4.0, 6.0],
                "respondent_id": ["r1", "r2", "r3"],
            }
        ),
        "csm_enps": pd.DataFrame(
            {
                "csm_id": ["C1", "C2"],
                "ts": ts(["2024-04-01", "2024-04-01"]),
                "score": [8.0, 6.0],
            }
        ),
    }


def write_dataset(folder: Path, frames: dict[str, pd.DataFrame] | None = None, fmt: str = "parquet") -> Path:
    """Write `frames` (default: `valid_frames()`) as `<folder>/<table>.parquet` or `.csv`; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (valid_frames() if frames is None else frames).items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def write_duckdb(path: Path, frames: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write `frames` (default: `valid_frames()`) as tables of a DuckDB database file; returns `path`."""
    con = duckdb.connect(str(path))
    try:
        for name, df in (valid_frames() if frames is None else frames).items():
            con.register("_frame", df)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
            con.unregister("_frame")
    finally:
        con.close()
    return path
