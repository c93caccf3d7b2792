"""The weekly job's record on disk: the lock, the week key and `jobs/<week>/state.json`.

`state.json` is rewritten whole (atomically, through a temporary file) at every step boundary, so it always
says where the week stands and never carries a field from an earlier attempt:

- ``running``: the week started; nothing is promised yet.
- ``promoting``: the intent, written *before* the champion alias may move: `previous` is the champion the
  week started with, `version` the challenger that may replace it.
- ``scoring``: the promotion decision is made; `champion` is the version that must score the week.
- ``scored``: this week's scores are stored (by `champion`); only the push can be left.
- ``succeeded`` / ``failed`` (with `step` and a one-line `error`).

A run that dies between ``promoting`` and ``succeeded`` (killed, power cut) leaves one of these on disk, and
`churnml.jobs.weekly` finishes the week from it on the next run.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

LOCK_FILE = "retrain.lock"
JOBS_DIR = "jobs"
STATE_FILE = "state.json"
#: States a killed run leaves behind that a re-run completes rather than starts over.
PENDING = ("promoting", "scoring", "scored")


class RetrainError(ValueError):
    """The weekly job failed or could not start; the message is one line."""


def week_key(as_of: dt.date) -> str:
    """ISO week of the as-of date, e.g. `2025-W09` (the job's idempotency key)."""
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


@contextmanager
def job_lock(work_dir: Path) -> Iterator[Path]:
    """Hold `<work_dir>/retrain.lock` exclusively for the block (released by the OS if the process dies)."""
    path = Path(work_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainError(f"another weekly job is running (lock {path} is held)") from None
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class JobState:
    """One line of the week's story (see the module docstring for the statuses)."""

    status: str
    as_of: str
    run_id: str | None = None
    step: str | None = None
    error: str | None = None
    previous: int | None = None
    version: int | None = None
    champion: int | None = None
    promoted: bool = False
    reason: str = ""
    scored: int = 0
    resumed: str | None = None
    at: str = ""

    @property
    def pending(self) -> bool:
        """A run died mid-week: the next run completes it."""
        return self.status in PENDING


def state_path(work_dir: Path, week: str) -> Path:
    """`<work_dir>/jobs/<week>/state.json`."""
    return Path(work_dir) / JOBS_DIR / week / STATE_FILE


def read_state(path: Path) -> JobState | None:
    """The recorded state (None if the week never ran); unknown keys of older files are ignored."""
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    known = {f.name for f in fields(JobState)}
    return JobState(**{k: v for k, v in raw.items() if k in known})


def write_state(path: Path, state: JobState) -> JobState:
    """Replace the state file atomically with `state` (stamped with the UTC time); returns what was written."""
    stamped = JobState(**{**asdict(state), "at": dt.datetime.now(dt.UTC).isoformat()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in asdict(stamped).items() if v is not None}, indent=2))
    tmp.replace(path)
    return stamped


__all__ = ["JOBS_DIR", "LOCK_FILE", "PENDING", "JobState", "RetrainError", "job_lock", "read_state", "state_path",
           "week_key", "write_state"]
