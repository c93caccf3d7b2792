"""The local webhook receiver (used by the demo) checks signatures and drops repeated idempotency keys."""

from __future__ import annotations

import datetime as dt
import time
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
