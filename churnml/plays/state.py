"""The alert store: `<work_dir>/alerts.duckdb`, beside the score store, holding every alert and its holdout flag.

A separate file from `scores.duckdb` so the API reading scores never waits on the alert step. `update` applies
one week (`alerts.plan_week`) inside one transaction; re-running the same week first undoes that week (alerts
opened on it are removed, alerts closed on it reopened), so a rerun gives the same store. Weeks must come in
order: a week older than the last one applied is refused. `resolve` marks an account's open alerts for a play
as done (the play was run); a resolved alert keeps suppressing its cause until the cause clears.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from churnml.config import PlaysConfig
from churnml.plays.alerts import ALERT_COLUMNS, WeekPlan, plan_week
from churnml.scoring.store import connect

ALERTS_FILE = "alerts.duckdb"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR PRIMARY KEY, account_id VARCHAR NOT NULL, cause VARCHAR NOT NULL, play VARCHAR NOT NULL,
    play_text VARCHAR NOT NULL, status VARCHAR NOT NULL, held_out BOOLEAN NOT NULL, opened_as_of DATE NOT NULL,
    last_seen_as_of DATE NOT NULL, closed_as_of DATE, risk_band VARCHAR NOT NULL, churn_probability DOUBLE NOT NULL,
    mrr DOUBLE, detail VARCHAR, reasons VARCHAR);
CREATE TABLE IF NOT EXISTS alert_weeks (as_of DATE PRIMARY KEY);
"""


class AlertStore:
    """The alert DuckDB file; each call opens and closes its own connection.

    Args:
        path: the DuckDB file.
        wait_s: how long opening it waits while another process holds it (then
            `churnml.scoring.store.StoreLockedError`); the service waits a little, batch steps not at all.
    """

    def __init__(self, path: Path | str, wait_s: float = 0.0) -> None:
        self.path = Path(path)
        self.wait_s = wait_s

    @classmethod
    def from_work_dir(cls, work_dir: Path | str, wait_s: float = 0.0) -> AlertStore:
        return cls(Path(work_dir) / ALERTS_FILE, wait_s)

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.path, wait_s=self.wait_s, poll_s=0.05)
        try:
            con.execute(_SCHEMA)
            yield con
        finally:
            con.close()

    def read(self, status: str | None = None, account_id: str | None = None) -> pd.DataFrame:
        """Every alert (or those with `status`, of `account_id`), ordered by opening week, account and cause."""
        if not self.path.exists():
            return pd.DataFrame(columns=ALERT_COLUMNS)
        conds = [(c, v) for c, v in (("status", status), ("account_id", account_id)) if v is not None]
        where = ("WHERE " + " AND ".join(f"{c} = ?" for c, _ in conds)) if conds else ""
        with self._connect() as con:
            df = con.execute(f"SELECT * FROM alerts {where} ORDER BY opened_as_of, account_id, cause",
                             [v for _, v in conds]).df()
        for col in ("opened_as_of", "last_seen_as_of", "closed_as_of"):
            df[col] = pd.to_datetime(df[col]).dt.date
        return df

    def weeks(self) -> list[dt.date]:
        """The weeks applied so far, ascending."""
        if not self.path.exists():
            return []
        with self._connect() as con:
            return [r[0] for r in con.execute("SELECT as_of FROM alert_weeks ORDER BY as_of").fetchall()]

    def update(self, as_of: dt.date, causes: pd.DataFrame, cfg: PlaysConfig) -> WeekPlan:
        """Apply one week's causes; returns the plan applied.

        Raises:
            ValueError: `as_of` is older than the last week applied (weeks must come in order).
        """
        done = self.weeks()
        if done and as_of < done[-1]:
            raise ValueError(f"alerts for {as_of} come after the week {done[-1]} was applied; weeks must be in order")
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("DELETE FROM alerts WHERE opened_as_of = ?", [as_of])
                con.execute("UPDATE alerts SET status = 'open', closed_as_of = NULL "
                            "WHERE closed_as_of = ? AND status = 'cleared'", [as_of])
                con.execute("UPDATE alerts SET closed_as_of = NULL WHERE closed_as_of = ?", [as_of])
                active = con.execute("SELECT * FROM alerts WHERE closed_as_of IS NULL").df()
                plan = plan_week(active, causes, as_of, cfg)
                if plan.seen:
                    con.execute("UPDATE alerts SET last_seen_as_of = ? WHERE list_contains(?, alert_id)",
                                [as_of, plan.seen])
                if plan.cleared:
                    con.execute("UPDATE alerts SET closed_as_of = ?, status = CASE WHEN status = 'open' "
                                "THEN 'cleared' ELSE status END WHERE list_contains(?, alert_id)",
                                [as_of, plan.cleared])
                new = plan.new  # noqa: F841 (read by DuckDB's replacement scan below)
                con.execute(f"INSERT INTO alerts SELECT {', '.join(ALERT_COLUMNS)} FROM new")
                con.execute("INSERT OR IGNORE INTO alert_weeks VALUES (?)", [as_of])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return plan

    def resolve(self, account_id: str, play: str, as_of: dt.date) -> int:
        """Mark the account's open alerts recommending `play` as resolved (the play was done); returns how many."""
        with self._connect() as con:
            n = con.execute("SELECT count(*) FROM alerts WHERE account_id = ? AND play = ? AND status = 'open'",
                            [str(account_id), play]).fetchone()
            con.execute("UPDATE alerts SET status = 'resolved', last_seen_as_of = greatest(last_seen_as_of, ?) "
                        "WHERE account_id = ? AND play = ? AND status = 'open'", [as_of, str(account_id), play])
        return int(n[0]) if n else 0
