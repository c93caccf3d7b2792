"""What the app holds while it runs: settings, the model holder, the score store reader, keys, metrics, sessions."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from churnml.config import Settings
from churnml.scoring.fresh import FreshScorer
from serving.auth import KeyChecker, Principal
from serving.metrics import Metrics
from serving.model_holder import ModelHolder
from serving.store import StoreReader


class Sessions:
    """Web page sessions: random token (HttpOnly cookie) -> principal, expiring; in memory (one process)."""

    def __init__(self, hours: float) -> None:
        self._ttl = hours * 3600
        self._by_token: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def create(self, who: Principal) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._by_token = {t: v for t, v in self._by_token.items() if v[1] > now}
            self._by_token[token] = (who, now + self._ttl)
        return token

    def get(self, token: str | None) -> Principal | None:
        if not token:
            return None
        with self._lock:
            found = self._by_token.get(token)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def drop(self, token: str | None) -> None:
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
