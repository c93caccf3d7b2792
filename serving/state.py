"""What the app holds while it runs: settings, the model holder, the score store reader, keys, metrics, sessions."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from churnml.config import Settings
from churnml.scoring.fresh import FreshScorer
from serving.auth import KeyChecker, Principal
from serving.metrics import Metrics
from serving.model_holder import ModelHolder
from serving.store import StoreReader


class Sessions:
    """Web page sessions: random token (HttpOnly cookie) -> principal, expiring.

    With `path`, kept in a small SQLite file (only a SHA-256 of each token is stored) so every uvicorn worker
    process sees every session; without, in this process's memory (tests, one process).
    """

    def __init__(self, hours: float, path: Path | None = None) -> None:
        self._ttl = hours * 3600
        self._path = path
        self._by_token: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.execute("CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, name TEXT, role TEXT, "
                           "expires REAL, csm_id TEXT)")
                if "csm_id" not in {r[1] for r in db.execute("PRAGMA table_info(sessions)")}:
                    db.execute("ALTER TABLE sessions ADD COLUMN csm_id TEXT")  # a file from before csm_id

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(str(self._path), timeout=5, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(self, who: Principal) -> str:
        token = secrets.token_urlsafe(32)
        expires = time.time() + self._ttl
        if self._path is not None:
            with self._db() as db:
                db.execute("DELETE FROM sessions WHERE expires <= ?", (time.time(),))
                db.execute("INSERT INTO sessions (token, name, role, expires, csm_id) VALUES (?, ?, ?, ?, ?)",
                           (self._digest(token), who.name, who.role, expires, who.csm_id))
            return token
        with self._lock:
            now = time.time()
            self._by_token = {t: v for t, v in self._by_token.items() if v[1] > now}
            self._by_token[token] = (who, expires)
        return token

    def get(self, token: str | None) -> Principal | None:
        if not token:
            return None
        if self._path is not None:
            with self._db() as db:
                row = db.execute("SELECT name, role, expires, csm_id FROM sessions WHERE token = ?",
                                 (self._digest(token),)).fetchone()
            found = None if row is None else (Principal(row[0], row[1], row[3]), row[2])
        else:
            with self._lock:
                found = self._by_token.get(token)
        if found is None or found[1] <= time.time():
            return None
        return found[0]

    def drop(self, token: str | None) -> None:
        if self._path is not None:
            with self._db() as db:
                db.execute("DELETE FROM sessions WHERE token = ?", (self._digest(token or ""),))
            return
        with self._lock:
            self._by_token.pop(token or "", None)


@dataclass
class ServiceState:
    settings: Settings
    holder: ModelHolder
    store: StoreReader
    keys: KeyChecker
    metrics: Metrics
    sessions: Sessions
    fresh: FreshScorer | None = None
    started: float = field(default_factory=time.time)
