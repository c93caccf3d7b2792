"""What every target shares: the result of one batch, the two kinds of failure, and reading HTTP statuses."""

from __future__ import annotations

import datetime as dt
import email.utils
import os
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from churnml.crm.payload import Batch


class PushError(ValueError):
    """A push cannot go on (bad credentials, retries exhausted); the ledger keeps what is left for a re-run."""


class RetryableError(Exception):
    """A transient failure of one request (429, 5xx, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class BatchResult:
    """The CRM's answer for one batch: records it took and records it refused (with its error)."""

    acked: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


class Target(Protocol):
    """A place scores go. `send` raises `RetryableError` for transient failures, `PushError` for fatal ones."""

    name: str
    batch_size: int

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult: ...


def env_secret(name: str, what: str) -> str:
    """A secret from the environment, or a one-line error naming the variable."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise PushError(f"{what}: environment variable {name} is not set")
    return value


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def post(client: httpx.Client, method: str, url: str, what: str, **kwargs: object) -> httpx.Response:
    """Send one request; transient failures become `RetryableError`, auth failures `PushError`."""
    try:
        resp = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise RetryableError(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"{what}: connection failed ({type(exc).__name__}: {exc})") from exc
    if resp.status_code == 429:
        raise RetryableError(f"{what}: 429 too many requests", retry_after_seconds(resp.headers.get("Retry-After")))
    if resp.status_code >= 500:
        raise RetryableError(f"{what}: HTTP {resp.status_code}", retry_after_seconds(resp.headers.get("Retry-After")))
    if resp.status_code in (401, 403):
        raise PushError(f"{what}: HTTP {resp.status_code}, credentials refused: {resp.text[:200]}")
    return resp


def whole_batch_rejected(batch: Batch, resp: httpx.Response) -> BatchResult:
    """A 4xx for the whole request (e.g. a validation error): every record rejected with the CRM's message."""
    message = f"HTTP {resp.status_code}: {resp.text[:500]}"
    return BatchResult([], {r.account_id: message for r in batch.records})
