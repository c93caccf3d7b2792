"""Writing the intervention log: a CSM marks a play done; the row lands in the `interventions` contract table.

The log is `<data.dir>/interventions.parquet` (the file the data folder is read from), rewritten whole through a
temporary file and an atomic rename, so a reader never sees half a file. Every write holds an exclusive lock on
`<data.dir>/interventions.parquet.lock` (`fcntl.flock`, POSIX) from reading the old log to the rename, so writers
in several threads or processes (API workers, the web page, the CLI) take turns and none drops another's row.
Recording the same (account, ts, play) twice keeps one row (`refuse_duplicate=True` raises `DuplicatePlay`
instead). The account's open alerts recommending that play are resolved in the alert store.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from churnml.config import Settings
from churnml.data.contract import TABLES
from churnml.plays.state import AlertStore

LOG_FILE = "interventions.parquet"
LOCK_SUFFIX = ".lock"
#: How long resolving waits while another process (the weekly alert step) holds the alert store.
ALERT_WAIT_S = 5.0
_THREAD_LOCK = threading.Lock()  # flock already serialises threads (one open file each); this keeps it cheap


class LogUnavailable(ValueError):
    """The intervention log cannot be written where it is configured (not a folder, another form, read-only)."""


class DuplicatePlay(ValueError):
    """The log already holds this exact (account, play, ts)."""


def log_path(settings: Settings) -> Path:
    """Where the intervention log lives; refuses a data source that cannot hold it as `interventions.parquet`.

    Raises:
        LogUnavailable: `data.dir` is a file (a DuckDB data source) or holds the table as CSV or a folder.
    """
    folder = Path(settings.data.dir)
    if folder.exists() and not folder.is_dir():
        raise LogUnavailable(f"interventions: data.dir {folder} is a file, not a folder; the intervention log "
                             f"is written to <data.dir>/{LOG_FILE}, so point data.dir at a folder")
    other = [p for p in (folder / "interventions.csv", folder / "interventions") if p.exists()]
    if other:
        raise LogUnavailable(f"interventions: the data folder holds {other[0]}; churnml writes plays to "
                             f"{folder / LOG_FILE} only, so convert or remove it first")
    return folder / LOG_FILE


def writable_log(settings: Settings) -> Path:
    """The log's path when a service may write it now: `data.dir` must be an existing, writable folder.

    Unlike `record_play` (which creates the folder), a running service does not make a data folder up: a
    missing one means no log is configured there.

    Raises:
        LogUnavailable: naming the folder and what is wrong with it.
    """
    path = log_path(settings)
    folder = path.parent
    if not folder.is_dir():
        raise LogUnavailable(f"interventions: data.dir {folder} does not exist, so there is no intervention log "
                             "to write; create the folder (or set data.dir) first")
    for p in (folder, path, path.with_name(path.name + LOCK_SUFFIX)):
        if p.exists() and not os.access(p, os.W_OK):
            raise LogUnavailable(f"interventions: {p} is not writable by this process")
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of the log at `path` (blocks while another writer holds it)."""
    lock = path.with_name(path.name + LOCK_SUFFIX)
    with _THREAD_LOCK, open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _utc_naive(ts: dt.datetime) -> dt.datetime:
    """`ts` as naive UTC (the log's timestamps); an aware time is converted, a naive one taken as UTC."""
    return ts.astimezone(dt.UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` to a fresh temporary file beside `path`, flushed to disk; returns the temporary file."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            frame.to_parquet(fh, index=False)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def record_play(settings: Settings, account_id: str, play: str, ts: dt.datetime, csm_id: str | None = None,
                outcome: str | None = "done", *, refuse_duplicate: bool = False) -> int:
    """Append one done play to the log and resolve the account's open alerts for it; returns alerts resolved.

    `ts` is stored as naive UTC (an aware time is converted). The old log is read under the writer lock and
    written back whole with the new row, so concurrent calls never lose rows; a log that cannot be read is an
    error, never overwritten. The alerts are resolved before the new log replaces the old one: when the alert
    store cannot be updated nothing is recorded, and the call can simply be repeated.

    Raises:
        ValueError: empty play name, or a timestamp in the future.
        LogUnavailable: the data source cannot hold the log (`log_path`).
        DuplicatePlay: `refuse_duplicate` and the log already holds (account, play, ts).
    """
    if not play.strip():
        raise ValueError("interventions.play must not be empty")
    ts = _utc_naive(ts)
    if ts > dt.datetime.now(dt.UTC).replace(tzinfo=None):
        raise ValueError(f"interventions.ts {ts} is in the future (rows are plays already done)")
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(TABLES["interventions"].column_names)
    when = pd.Timestamp(ts)
    row = pd.DataFrame([{"account_id": str(account_id), "ts": when, "play": play, "csm_id": csm_id,
                         "outcome": outcome}])
    with _locked(path):
        old = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=cols)
        if refuse_duplicate and len(old):
            same = ((old["account_id"].astype(str) == str(account_id)) & (old["play"] == play)
                    & (pd.to_datetime(old["ts"]) == when))
            if same.any():
                raise DuplicatePlay(f"interventions: {path} already holds play {play!r} for account "
                                    f"{account_id!r} at {ts.isoformat()}")
        new = pd.concat([old, row], ignore_index=True) if len(old) else row
        new["ts"] = pd.to_datetime(new["ts"]).astype("datetime64[us]")
        new = new.drop_duplicates(["account_id", "ts", "play"], keep="last")[cols]
        tmp = _write(new, path)
        try:
            alerts = AlertStore.from_work_dir(settings.work_dir, ALERT_WAIT_S)
            resolved = alerts.resolve(str(account_id), play, ts.date())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return resolved


__all__ = ["LOG_FILE", "DuplicatePlay", "LogUnavailable", "log_path", "record_play", "writable_log"]
