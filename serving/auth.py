"""API keys: salted scrypt hashes in the config, verified in constant time, with a role each.

A key is never stored: the config holds `scrypt$n$r$p$<salt>$<digest>` (base64, `churnml apikey hash` makes
one). scrypt costs ~20 ms per check by design, so a key that verified once is remembered in memory under an
HMAC of the key with a per-process random secret (the raw key is not kept); wrong keys are never
remembered and pay the full cost every time. At most `workers` scrypt checks run at once (each takes ~20 ms
of CPU and 16 MB), so a flood of wrong keys queues behind a small bounded pool instead of taking every core and
request thread; `serving.limits.AuthGuardMiddleware` bounds that queue and backs off clients that keep failing.
Pure logic, no HTTP: `serving.deps` turns the result into 401/403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from churnml.config import ApiKey

#: Each role may do what the ones before it may: read (GET routes, the web page) < write (also record plays
#: done) < score (also POST /v1/score).
ROLES: tuple[str, ...] = ("read", "write", "score")
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
_CACHE_MAX = 1024


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hash_key(key: str, *, salt: bytes | None = None, n: int = _N, r: int = _R, p: int = _P) -> str:
    """The config form of `key`: `scrypt$n$r$p$salt$digest` with a fresh 16-byte random salt."""
    if not key:
        raise ValueError("an API key must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_hash(key: str, stored: str) -> bool:
    """Whether `key` matches the stored hash (constant-time digest comparison; malformed hashes never match)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(key.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def new_key() -> str:
    """A fresh random API key (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    """Who called: the key's configured name and role, and the CSM id it belongs to (if configured)."""

    name: str
    role: str
    csm_id: str | None = None

    def can_score(self) -> bool:
        return self.role == "score"

    def can_write(self) -> bool:
        """Whether the key may record plays done (roles `write` and `score`; `read` keys only look)."""
        return self.role in ("write", "score")


ANONYMOUS = Principal("anonymous", "score")


class KeyChecker:
    """Checks presented keys against the configured hashes.

    Args:
        keys: the configured keys; empty means authentication is off (only when the config allows it).
        workers: scrypt checks allowed to run at once; further checks wait for one to finish.
    """

    def __init__(self, keys: Sequence[ApiKey], workers: int = 2) -> None:
        if workers < 1:
            raise ValueError("KeyChecker needs at least one worker")
        self._keys = list(keys)
        self._secret = secrets.token_bytes(32)
        self._known: dict[bytes, Principal] = {}
        self._lock = threading.Lock()
        self._pool = threading.BoundedSemaphore(workers)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def _tag(self, presented: str) -> bytes:
        return hmac.new(self._secret, presented.encode(), hashlib.sha256).digest()

    def cached(self, presented: str) -> Principal | None:
        """The principal of a key that already verified (microseconds; None: not known yet, call `check`)."""
        with self._lock:
            return self._known.get(self._tag(presented))

    def check(self, presented: str | None) -> Principal | None:
        """The principal for `presented`, or None when it is missing or matches no configured key.

        Blocks while `workers` other checks are running (call it off the event loop).
        """
        if not self.enabled:
            return ANONYMOUS
        if not presented:
            return None
        tag = self._tag(presented)
        with self._lock:
            found = self._known.get(tag)
        if found is not None:
            return found
        match = None
        with self._pool:
            for k in self._keys:  # every hash is tried, so timing does not say which key nearly matched
                if verify_hash(presented, k.hash) and match is None:
                    match = Principal(k.name, k.role, k.csm_id)
        if match is not None:
            with self._lock:
                if len(self._known) >= _CACHE_MAX:
                    self._known.clear()
                self._known[tag] = match
        return match
