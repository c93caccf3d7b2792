"""The push ledger: every planned batch and record of every push, in the score store's DuckDB file.

Two tables beside `scores` (whose columns are never changed here):

- `push_batches` (batch_id, as_of, target, seq, status planned|sent|acked|failed, attempts, error, times): a
  batch is recorded *before* it is sent and its id is the request's idempotency key.
- `push_records` keyed by (as_of, target, account_id, payload_hash), status pending|acked|rejected, the CRM's
  error for rejections and the JSON payload sent.

Planning writes a push's batches and records in one transaction, so a crash leaves either the whole plan or
none of it. Each call opens and closes its own connection (DuckDB allows one writing process at a time),
unless inside `session()`, which a push holds while it sends its batches. A file held by another process
raises `churnml.scoring.store.StoreLockedError` naming it (after `wait_s`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from churnml.crm.payload import Batch, Record
from churnml.scoring.store import connect

_DDL = (
    """CREATE TABLE IF NOT EXISTS push_batches (
        batch_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL, target VARCHAR NOT NULL, seq INTEGER NOT NULL,
        status VARCHAR NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL,
        error VARCHAR, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS push_records (
        as_of DATE NOT NULL, target VARCHAR NOT NULL, account_id VARCHAR NOT NULL, payload_hash VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL, status VARCHAR NOT NULL, error VARCHAR, payload VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL, PRIMARY KEY (as_of, target, account_id, payload_hash))""",
)
UNFINISHED = ("planned", "sent", "failed")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class PlannedBatch:
    """A batch read back from the ledger, ready to (re)send."""

    batch: Batch
    status: str
    attempts: int


class PushLedger:
    """Push bookkeeping in a DuckDB file (normally `<work_dir>/scores.duckdb`)."""

    def __init__(self, path: Path | str, wait_s: float = 0.0) -> None:
        self.path = Path(path)
        self.wait_s = wait_s
        self._session: duckdb.DuckDBPyConnection | None = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.path, wait_s=self.wait_s)
        for ddl in _DDL:
            con.execute(ddl)
        return con

    @contextmanager
    def session(self) -> Iterator[PushLedger]:
        """Keep one connection open for many calls (a push's batches); the file is held meanwhile."""
        if self._session is not None:
            yield self
            return
        self._session = self._open()
        try:
            yield self
        finally:
            self._session.close()
            self._session = None

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._session is not None:
            yield self._session
            return
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ reading

    def last_acked(self, target: str, before_or_on: dt.date) -> dict[str, str]:
        """Each account's latest acknowledged payload hash for `target` (as-of dates up to `before_or_on`)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT account_id, payload_hash FROM push_records WHERE target = ? AND status = 'acked' "
                "AND as_of <= ? QUALIFY row_number() OVER (PARTITION BY account_id "
                "ORDER BY as_of DESC, updated_at DESC) = 1", [target, before_or_on]).fetchall()
        return {a: h for a, h in rows}

    def known_keys(self, as_of: dt.date, target: str,
                   statuses: Sequence[str] | None = None) -> set[tuple[str, str]]:
        """(account_id, payload_hash) already in the ledger for this push, of the given statuses (default: any)."""
        sql = "SELECT account_id, payload_hash FROM push_records WHERE as_of = ? AND target = ?"
        params: list[object] = [as_of, target]
        if statuses is not None:
            sql += " AND list_contains(?, status)"
            params.append(list(statuses))
        with self._connect() as con:
            rows = con.execute(sql, params).fetchall()
        return {(a, h) for a, h in rows}

    def keys(self, target: str) -> set[str]:
        """Every record key (`account_id` column) `target` has in the ledger, of any as-of date and status.

        Task pushes key records by alert id: an alert planned once, for whichever week, is never planned again.
        """
        with self._connect() as con:
            rows = con.execute("SELECT DISTINCT account_id FROM push_records WHERE target = ?", [target]).fetchall()
        return {r[0] for r in rows}

    def unfinished(self, as_of: dt.date | None, target: str) -> list[PlannedBatch]:
        """Batches planned but not acknowledged (planned, sent or failed), in order, with their pending records.

        `as_of` None: of every as-of date (task pushes resume an interrupted week's batches in a later week).
        """
        dated = "as_of = ? AND " if as_of is not None else ""
        with self._connect() as con:
            batches = con.execute(
                f"SELECT batch_id, seq, status, attempts FROM push_batches WHERE {dated}target = ? "
                "AND status IN ('planned', 'sent', 'failed') ORDER BY as_of, seq",
                [as_of, target] if as_of is not None else [target]).fetchall()
            out = []
            for batch_id, seq, status, attempts in batches:
                recs = con.execute(
                    "SELECT account_id, payload_hash, payload FROM push_records WHERE batch_id = ? "
                    "AND status = 'pending' ORDER BY account_id", [batch_id]).fetchall()
                records = [Record(a, json.loads(p), h) for a, h, p in recs]
                out.append(PlannedBatch(Batch(batch_id, seq, records), status, attempts))
        return out

    def next_seq(self, as_of: dt.date, target: str) -> int:
        with self._connect() as con:
            row = con.execute("SELECT coalesce(max(seq) + 1, 0) FROM push_batches WHERE as_of = ? AND target = ?",
                              [as_of, target]).fetchone()
        return int(row[0]) if row else 0

    def records(self, as_of: dt.date | None = None, target: str | None = None) -> pd.DataFrame:
        """Ledger records (optionally of one as-of date and target), for reports and tests."""
        return self._select("push_records", "account_id", as_of, target)

    def batches(self, as_of: dt.date | None = None, target: str | None = None) -> pd.DataFrame:
        """Ledger batches, in order."""
        return self._select("push_batches", "seq", as_of, target)

    def _select(self, table: str, last_key: str, as_of: dt.date | None, target: str | None) -> pd.DataFrame:
        where, params = [], []
        if as_of is not None:
            where.append("as_of = ?")
            params.append(as_of)
        if target is not None:
            where.append("target = ?")
            params.append(target)
        sql = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
        with self._connect() as con:
            return con.execute(f"{sql} ORDER BY as_of, target, {last_key}", params).df()

    # ------------------------------------------------------------------ writing

    def plan(self, as_of: dt.date, target: str, batches: Sequence[Batch]) -> None:
        """Record batches and their records as planned/pending, all or nothing.

        A record already in the ledger with the same key (a `--full` push of a date already pushed) moves to its
        new batch as pending: the ledger keeps each payload's latest delivery.
        """
        now = _now()
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for b in batches:
                    con.execute("INSERT INTO push_batches VALUES (?, ?, ?, ?, 'planned', 0, ?, NULL, ?, ?)",
                                [b.batch_id, as_of, target, b.seq, len(b.records), now, now])
                planned = pd.DataFrame(
                    [(r.account_id, r.payload_hash, b.batch_id, json.dumps(r.properties, sort_keys=True, default=str))
                     for b in batches for r in b.records],
                    columns=["account_id", "payload_hash", "batch_id", "payload"])
                if len(planned):
                    con.register("planned", planned)
                    con.execute("INSERT OR REPLACE INTO push_records SELECT ?, ?, account_id, payload_hash, batch_id, "
                                "'pending', NULL, payload, ? FROM planned", [as_of, target, now])
                    con.unregister("planned")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def mark_sent(self, batch_id: str) -> None:
        """The batch is about to be sent (once more): status sent, attempts + 1."""
        with self._connect() as con:
            con.execute("UPDATE push_batches SET status = 'sent', attempts = attempts + 1, updated_at = ? "
                        "WHERE batch_id = ?", [_now(), batch_id])

    def mark_failed(self, batch_id: str, error: str) -> None:
        """Retries ran out: the batch stays to be resumed by the next push."""
        with self._connect() as con:
            con.execute("UPDATE push_batches SET status = 'failed', error = ?, updated_at = ? WHERE batch_id = ?",
                        [error[:2000], _now(), batch_id])

    def settle(self, batch_id: str, acked: Sequence[str], rejected: Mapping[str, str]) -> None:
        """The CRM answered: its acknowledged and rejected records, and the batch acked — in one transaction."""
        now = _now()
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                outcome = pd.DataFrame(
                    [(a, "acked", None) for a in acked] + [(a, "rejected", e[:2000]) for a, e in rejected.items()],
                    columns=["account_id", "status", "error"]).astype({"error": "object"})
                if len(outcome):
                    con.register("outcome", outcome)
                    con.execute("UPDATE push_records SET status = o.status, error = o.error, updated_at = ? "
                                "FROM outcome o WHERE push_records.batch_id = ? "
                                "AND push_records.account_id = o.account_id", [now, batch_id])
                    con.unregister("outcome")
                summary = f"{len(rejected)} rejected" if rejected else None
                con.execute("UPDATE push_batches SET status = 'acked', error = ?, updated_at = ? WHERE batch_id = ?",
                            [summary, now, batch_id])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
