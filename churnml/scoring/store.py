"""The score store: one DuckDB file, `<work_dir>/scores.duckdb`, holding every scoring run by as-of date.

Table `scores`, keyed by (account_id, as_of). Writing a run replaces that as-of date's rows inside one
transaction: an interrupted or failing write leaves the previous scores exactly as they were, and re-running
the same as-of date gives the same table (idempotent). History is kept: other as-of dates are never
touched, so "why did the score move" can always read the previous scoring. Structured columns (reasons,
theme contributions, the change breakdown, the key signals' values, the band rule and edges of the scoring)
are JSON text. `export_parquet` hands the table (or one as-of date) to BI tools and the CRM sync.

Each call opens and closes its own connection, so the file is not held between runs (DuckDB allows one
process at a time to open the file for writing, and none to read it meanwhile). When another process holds it,
opening waits up to `wait_s` (`scoring.store_wait_s`, default 0) and then raises `StoreLockedError`, which names
the holding process (DuckDB's lock error gives its PID) and what to do.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

STORE_FILE = "scores.duckdb"
TABLE = "scores"

#: Column -> DuckDB type, in table order. JSON columns are VARCHAR holding JSON text.
COLUMNS: dict[str, str] = {
    "account_id": "VARCHAR NOT NULL",
    "as_of": "DATE NOT NULL",
    "churn_probability": "DOUBLE NOT NULL",
    "risk_band": "VARCHAR NOT NULL",
    "mrr": "DOUBLE",
    "mrr_at_risk": "DOUBLE",
    "change_points": "DOUBLE",
    "previous_as_of": "DATE",
    "previous_probability": "DOUBLE",
    "change_by_theme": "VARCHAR",
    "change_text": "VARCHAR",
    "risk_drivers": "VARCHAR NOT NULL",
    "protective_factors": "VARCHAR NOT NULL",
    "theme_contributions": "VARCHAR NOT NULL",
    "raw_score": "DOUBLE NOT NULL",
    "base_value": "DOUBLE NOT NULL",
    "model_name": "VARCHAR NOT NULL",
    "model_version": "VARCHAR NOT NULL",
    "segment": "VARCHAR",
    "csm_id": "VARCHAR",
    "scored_at": "TIMESTAMP NOT NULL",
    "signals": "VARCHAR",
    "band_rule": "VARCHAR",
    "account_name": "VARCHAR",
    "csm_name": "VARCHAR",
    "context_facts": "VARCHAR",
    "theme_points": "VARCHAR",
}
#: Columns added after the first release: an older store gets them (empty) when it is next written.
ADDED_COLUMNS = ("signals", "band_rule", "account_name", "csm_name", "context_facts", "theme_points")


def _base_type(sql_type: str) -> str:
    return sql_type.replace(" NOT NULL", "")


_LOCK_HELD = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class StoreLockedError(ValueError):
    """Another process holds the DuckDB file (a ValueError, so every CLI command shows it as one line).

    Attributes:
        path: the file.
        pid: the holding process's id, when DuckDB named it.
        holder: its command line (or executable), when known.
    """

    def __init__(self, path: Path, pid: int | None, holder: str | None, waited_s: float) -> None:
        self.path, self.pid, self.holder = path, pid, holder
        who = f"process {pid}" if pid is not None else "another process"
        if holder:
            who += f" ({holder})"
        waited = f" after waiting {waited_s:g} s" if waited_s > 0 else ""
        stop = f" (or stop it: kill {pid})" if pid is not None else ""
        super().__init__(
            f"{path} is in use by {who}{waited}: DuckDB lets one process at a time open it. Wait for that "
            f"process to finish{stop}, then run again; or let churnml wait for it: scoring.store_wait_s in the "
            "config (env CHURNML_SCORING__STORE_WAIT_S=120)")


def _command_line(pid: int, fallback: str | None) -> str | None:
    """The command line of `pid` from /proc (Linux), cut to 120 characters; `fallback` where unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return fallback
    text = " ".join(raw.replace(b"\0", b" ").decode("utf-8", "replace").split())
    return (text[:117] + "...") if len(text) > 120 else (text or fallback)


def connect(path: Path | str, *, read_only: bool = False, wait_s: float = 0.0,
            poll_s: float = 0.25) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, retrying for up to `wait_s` seconds while another process holds the file.

    Raises:
        StoreLockedError: the file is still held after `wait_s` (names the holder's PID and command line).
        duckdb.Error: any other failure to open the file.
    """
    path = Path(path)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            held = _LOCK_HELD.search(str(exc))
            if held is None and "Could not set lock" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                pid = int(held["pid"]) if held else None
                holder = _command_line(pid, held["exe"]) if held and pid is not None else None
                raise StoreLockedError(path, pid, holder, wait_s) from None
            time.sleep(poll_s)


class ScoreStore:
    """Scores by as-of date in a DuckDB file.

    Args:
        path: the DuckDB file (created with its table on first write).
        wait_s: how long opening the file waits while another process holds it (then `StoreLockedError`).
    """

    def __init__(self, path: Path | str, wait_s: float = 0.0) -> None:
        self.path = Path(path)
        self.wait_s = wait_s

    @classmethod
    def from_work_dir(cls, work_dir: Path | str, wait_s: float = 0.0) -> ScoreStore:
        """The store at `<work_dir>/scores.duckdb`."""
        return cls(Path(work_dir) / STORE_FILE, wait_s)

    def check_writable(self) -> None:
        """Open the file for writing once and close it: a held file fails now, not after a long scoring run.

        Raises:
            StoreLockedError: another process still holds the file after `wait_s`.
        """
        with self._connect():
            pass

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.path, read_only=read_only, wait_s=self.wait_s)
        try:
            if not read_only:
                cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
                con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols}, PRIMARY KEY (account_id, as_of))")
                for c in ADDED_COLUMNS:
                    con.execute(f'ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS "{c}" {_base_type(COLUMNS[c])}')
            yield con
        finally:
            con.close()

    def _exists(self) -> bool:
        if not self.path.exists():
            return False
        with self._connect(read_only=True) as con:
            found = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
            ).fetchone()
        return bool(found and found[0])

    # ------------------------------------------------------------------ writing

    def write(self, scores: pd.DataFrame) -> int:
        """Replace the rows of every as-of date in `scores` with `scores`, atomically; returns rows written.

        Raises:
            ValueError: a column of the store is missing.
            duckdb.Error: the write failed (nothing was changed).
        """
        missing = [c for c in COLUMNS if c not in scores.columns and c not in ADDED_COLUMNS]
        if missing:
            raise ValueError(f"scores lack column(s) {missing}")
        frame = scores.reindex(columns=list(COLUMNS))  # a later-added column may be absent: null
        with self._connect() as con:
            con.register("incoming", frame)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {TABLE} WHERE as_of IN (SELECT DISTINCT CAST(as_of AS DATE) FROM incoming)")
                self._insert(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming")
        return len(frame)

    def _insert(self, con: duckdb.DuckDBPyConnection) -> None:
        """Insert the registered `incoming` view (a separate step so tests can fail it midway)."""
        select = ", ".join(f'CAST("{c}" AS {_base_type(t)})' for c, t in COLUMNS.items())
        con.execute(f"INSERT INTO {TABLE} SELECT {select} FROM incoming")

    # ------------------------------------------------------------------ reading

    def as_of_dates(self) -> list[dt.date]:
        """As-of dates stored, oldest first."""
        if not self._exists():
            return []
        with self._connect(read_only=True) as con:
            rows = con.execute(f"SELECT DISTINCT as_of FROM {TABLE} ORDER BY as_of").fetchall()
        return [r[0] for r in rows]

    def read(self, as_of: dt.date | None = None) -> pd.DataFrame:
        """Every stored row, or one as-of date's; sorted by as-of date then account."""
        if not self._exists():
            return pd.DataFrame(columns=list(COLUMNS))
        with self._connect(read_only=True) as con:
            if as_of is None:
                rel = con.execute(f"SELECT * FROM {TABLE} ORDER BY as_of, account_id")
            else:
                rel = con.execute(f"SELECT * FROM {TABLE} WHERE as_of = ? ORDER BY account_id", [as_of])
            return rel.df()

    def previous(self, as_of: dt.date) -> pd.DataFrame:
        """Each account's latest scoring strictly before `as_of` (empty if none)."""
        if not self._exists():
            return pd.DataFrame(columns=list(COLUMNS))
        with self._connect(read_only=True) as con:
            return con.execute(
                f"SELECT * FROM {TABLE} WHERE as_of < ? "
                "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY as_of DESC) = 1 ORDER BY account_id",
                [as_of],
            ).df()

    def export_parquet(self, path: Path | str, as_of: dt.date | None = None) -> int:
        """Write the scores (all, or one as-of date) to a Parquet file; returns rows written."""
        import pyarrow.parquet as pq

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not self._exists():
            raise FileNotFoundError(f"no scores stored in {self.path} yet")
        with self._connect(read_only=True) as con:
            if as_of is None:
                table = con.sql(f"SELECT * FROM {TABLE} ORDER BY as_of, account_id").to_arrow_table()
            else:
                table = con.sql(
                    f"SELECT * FROM {TABLE} WHERE as_of = ? ORDER BY account_id", params=[as_of]
                ).to_arrow_table()
        pq.write_table(table, out)
        return table.num_rows
