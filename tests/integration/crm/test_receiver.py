"""The local webhook receiver (used by the demo) checks signatures and drops repeated idempotency keys."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from churnml.crm.mapping import CrmConfig, WebhookConfig
from churnml.crm.payload import signature
from churnml.crm.push import push_scores
from churnml.crm.receiver import WebhookReceiver
from tests.support.crm_scores import store_scores

AS_OF = dt.date(2025, 3, 3)


def test_push_to_the_local_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNML_WEBHOOK_SECRET", "k")
    store = tmp_path / "scores.duckdb"
    store_scores(store, 50, AS_OF)
    with WebhookReceiver("k") as rx:
        rep = push_scores(CrmConfig(webhook=WebhookConfig(url=rx.url, batch_size=20)), store, AS_OF)
        assert rep.acked == 50 and rx.batches == 3 and len(rx.records) == 50
        body = b'{"records": [{"account_id": "X", "properties": {}}]}'
        ts = str(int(time.time()))
        ok = {"X-Churnml-Timestamp": ts, "X-Churnml-Signature": signature("k", ts, body), "Idempotency-Key": "b1"}
        assert httpx.post(rx.url, content=body, headers=ok).status_code == 200
        assert httpx.post(rx.url, content=body, headers=ok).status_code == 200  # repeat: answered, not applied
        assert rx.deliveries["X"] == 1 and rx.duplicates == 1
        forged = {**ok, "X-Churnml-Signature": signature("wrong", ts, body)}
        assert httpx.post(rx.url, content=body, headers=forged).status_code == 401
        old = str(int(time.time()) - 3600)
        stale = {**ok, "X-Churnml-Timestamp": old, "X-Churnml-Signature": signature("k", old, body)}
        assert httpx.post(rx.url, content=body, headers=stale).status_code == 401
        assert rx.refused == 2


def _signed(body: bytes, secret: str = "k") -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Churnml-Timestamp": ts, "X-Churnml-Signature": signature(secret, ts, body)}


def test_replay_inside_the_window_without_or_with_another_idempotency_key_is_not_delivered_again() -> None:
    from churnml.crm.mapping import WebhookConfig as Cfg
    from churnml.crm.payload import Batch, Record
    from churnml.crm.targets.webhook import WebhookTarget

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHURNML_WEBHOOK_SECRET", "k")
        target = WebhookTarget(Cfg(url="http://127.0.0.1:9/x"))
    batch = Batch("2025-03-03-webhook-00000-abcd1234", 0, [Record("A1", {"churn_risk": 0.3}, "h")])
    body = target.body(batch, AS_OF)
    captured = {**_signed(body), "Content-Type": "application/json", "Idempotency-Key": batch.batch_id}
    with WebhookReceiver("k") as rx:
        assert httpx.post(rx.url, content=body, headers=captured).status_code == 200
        no_key = {k: v for k, v in captured.items() if k != "Idempotency-Key"}
        assert httpx.post(rx.url, content=body, headers=no_key).status_code == 200  # answered as before
        other = httpx.post(rx.url, content=body, headers={**captured, "Idempotency-Key": "replay-1"})
        assert other.status_code == 400 and "signed batch_id" in other.json()["error"]
        assert rx.deliveries["A1"] == 1 and rx.batches == 1 and rx.duplicates == 1
        # a body without a batch_id: the same signed bytes are one delivery, whatever the header says
        bare = b'{"records": [{"account_id": "B1", "properties": {}}]}'
        signed = _signed(bare)
        for key in ("k1", "k2", None):
            headers = signed if key is None else {**signed, "Idempotency-Key": key}
            assert httpx.post(rx.url, content=bare, headers=headers).status_code == 200
        assert rx.deliveries["B1"] == 1


def _raw_request(url: str, head: str, body: bytes = b"", wait_s: float = 5.0) -> bytes:
    """Send `head` (request line and headers) and `body` over a raw socket; the whole answer.

    The refusals under test close the connection, so the answer is read until the server closes it (its status
    line and its body can arrive in separate segments); at most 64 KiB are kept.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait_s) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while len(answer) < 65536 and (chunk := sock.recv(4096)):
            answer += chunk
        return answer


def _post_head(url: str, length: int | None, extra: str = "") -> str:
    cl = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"POST /churnml HTTP/1.1\r\nHost: 127.0.0.1\r\n{cl}{extra}"


def test_huge_declared_bodies_are_refused_before_reading(record_property: Callable[[str, object], None]) -> None:
    import concurrent.futures as cf

    with WebhookReceiver("k", max_body_bytes=1_000_000, read_timeout_s=2.0) as rx:
        t0 = time.monotonic()
        answer = _raw_request(rx.url, _post_head(rx.url, 1_000_000_000_000))
        assert answer.startswith(b"HTTP/1.0 413") and b"at most 1,000,000 bytes" in answer
        with cf.ThreadPoolExecutor(3) as pool:  # three 200 MB declarations: each answered at once, none held
            answers = list(pool.map(lambda _: _raw_request(rx.url, _post_head(rx.url, 200_000_000)), range(3)))
        assert all(a.startswith(b"HTTP/1.0 413") for a in answers)
        took = time.monotonic() - t0
        record_property("1 TB and 3 × 200 MB declarations answered 413 in", f"{took * 1000:.0f} ms")
        assert took < 1.5 and rx.too_large == 4
        assert _raw_request(rx.url, _post_head(rx.url, None)).startswith(b"HTTP/1.0 411")
        assert _raw_request(rx.url, _post_head(rx.url, -5)).startswith(b"HTTP/1.0 400")
        chunked = _post_head(rx.url, None, "Transfer-Encoding: chunked\r\n")
        assert _raw_request(rx.url, chunked).startswith(b"HTTP/1.0 411")


def test_a_body_that_never_arrives_times_out() -> None:
    with WebhookReceiver("k", read_timeout_s=0.5) as rx:
        t0 = time.monotonic()
        answer = _raw_request(rx.url, _post_head(rx.url, 100), b'{"records": ')  # 12 of 100 bytes, then silence
        assert answer.startswith(b"HTTP/1.0 408") and time.monotonic() - t0 < 3
        assert rx.timed_out == 1 and rx.batches == 0
