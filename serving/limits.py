"""Request limits (ASGI middlewares): body size, and failed-key backoff with a bound on key checks in flight.

`BodyLimitMiddleware`: a declared Content-Length over the limit is refused at once; a body without one
(chunked) is counted as it arrives: past the limit the app is handed an ended body and whatever it answers is
replaced by the 413.

`AuthGuardMiddleware` guards the requests that cost a scrypt check: an `X-API-Key` not verified before, and
every `POST /login`. A client address whose checks failed (401) more than `free_failures` times in a row gets
429 with `Retry-After` for a backoff that doubles with each further failure (`FailureBackoff`), without any
check being run; at most `check_queue` guarded requests are in progress at once, more get 429 at once. A key
that already verified is never held up, so good clients keep their latency while wrong keys pour in.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from churnml.config import AuthLimits
from serving.auth import KeyChecker


async def _send_413(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: at most {limit:,} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
        seen = {"n": 0, "over": False}

        async def limited_receive() -> dict[str, Any]:
            if seen["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > self.max_bytes:
                    seen["over"] = True  # the app sees an empty end of body; its answer is replaced below
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        replaced = {"done": False}

        async def checked_send(message: dict[str, Any]) -> None:
            if seen["over"]:
                if not replaced["done"]:
                    replaced["done"] = True
                    await _send_413(send, self.max_bytes)
                return
            await send(message)

        await self.app(scope, limited_receive, checked_send)


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


class FailureBackoff:
    """Consecutive failed key checks per client address, and how long each must wait (not thread-safe: the
    middleware uses it from the event loop only).

    After `free_failures` failures in a row, each further failure blocks the client for `backoff_s * 2**k`
    (k = 0, 1, ...; at most `backoff_max_s`). A success, or `forget_s` without failures, clears the count. At
    most `max_clients` addresses are remembered (the least recently failing are forgotten first).
    """

    def __init__(self, limits: AuthLimits, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.limits, self.clock, self.max_clients = limits, clock, max_clients
        self._clients: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, client: str) -> float:
        """Seconds `client` must still wait (0: it may try now)."""
        found = self._clients.get(client)
        return 0.0 if found is None else max(0.0, found.blocked_until - self.clock())

    def failed(self, client: str) -> None:
        now, lim = self.clock(), self.limits
        found = self._clients.pop(client, None) or _Failures()
        if now - found.last > lim.forget_s:
            found = _Failures()
        found.count += 1
        found.last = now
        over = found.count - lim.free_failures
        if over > 0:
            found.blocked_until = now + min(lim.backoff_s * 2 ** min(over - 1, 30), lim.backoff_max_s)
        self._clients[client] = found
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)


async def _send_429(send: Any, retry_after: float, detail: str, html: bool) -> None:
    seconds = max(1, math.ceil(retry_after))
    if html:
        body = (f"<!doctype html><title>Too many attempts</title><p>{detail} Try again in {seconds} s.</p>").encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": f"{detail} Retry in {seconds} s."}).encode()
        kind = b"application/json"
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(seconds).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})


class AuthGuardMiddleware:
    """Backoff for clients whose key checks fail, and a bound on unverified-key requests in progress.

    Args:
        app: the ASGI app.
        keys: the app's key checker (its cache tells a verified key from an unknown one).
        limits: the `serving.auth_limits` settings.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(self, app: Any, keys: KeyChecker, limits: AuthLimits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.keys, self.limits = app, keys, limits
        self.backoff = FailureBackoff(limits, clock)
        self.in_progress = 0

    def _guarded(self, scope: dict[str, Any]) -> bool:
        if scope["method"] == "POST" and scope["path"] == "/login":
            return True
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                return bool(value) and self.keys.cached(value.decode("latin-1")) is None
        return False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.keys.enabled or not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        html = scope["path"] == "/login"
        wait = self.backoff.retry_after(client)
        if wait > 0:
            await _send_429(send, wait, "Too many failed key checks from this address.", html)
            return
        if self.in_progress >= self.limits.check_queue:
            await _send_429(send, 1, "Too many key checks in progress.", html)
            return
        status = {"code": 0}

        async def watched_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.in_progress += 1
        try:
            await self.app(scope, receive, watched_send)
        finally:
            self.in_progress -= 1
            if status["code"] == 401:
                self.backoff.failed(client)
            elif 200 <= status["code"] < 400:
                self.backoff.succeeded(client)
