"""The CRM fails mid-push and the pushing process is SIGKILLed; a re-run delivers every record exactly once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from churnml.config import Settings
from churnml.crm.ledger import PushLedger
from churnml.crm.push import push_scores
from tests.support.crm_scores import store_scores
from tests.support.fake_crm import WEBHOOK_PATH, FakeCrm

ROOT = Path(__file__).resolve().parents[3]
AS_OF = dt.date(2025, 3, 3)


def test_kill_mid_push_then_resume_delivers_exactly_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         record_property: Callable[[str, object], None]) -> None:
    store = tmp_path / "scores.duckdb"
    scores = store_scores(store, 200, AS_OF)
    # request 1: batch 0 acked; 2: 500 and 3: dropped connection (batch 1 retried, then acked on 4);
    # 5: batch 2 is applied by the CRM, then the pusher is killed before it can record the answer.
    with FakeCrm("webhook", faults={2: "500", 3: "drop", 5: "kill"}) as crm:
        env = {**os.environ, "CHURNML_WORK_DIR": str(tmp_path), "CHURNML_CRM__WEBHOOK__URL": crm.url + WEBHOOK_PATH,
               "CHURNML_CRM__WEBHOOK__BATCH_SIZE": "20", "CHURNML_CRM__RETRY__BACKOFF_BASE_S": "0.01",
               "CHURNML_CRM__RETRY__TIMEOUT_S": "10", "CHURNML_WEBHOOK_SECRET": crm.secret}
        proc = subprocess.Popen([sys.executable, "-c", "from churnml.cli.app import app; app()", "push", "--to",
                                 "webhook", "--as-of", AS_OF.isoformat()], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        crm.kill_pid = proc.pid
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -9, out.decode()[-2000:]  # SIGKILLed mid-push, not finished
        assert crm.requests == 5 and sum(crm.deliveries.values()) == 60
        batches = PushLedger(store).batches(AS_OF, "webhook")
        assert list(batches["status"][:3]) == ["acked", "acked", "sent"] and len(batches) == 10
        assert (batches["status"][3:] == "planned").all()

        # re-run (the CRM is healthy again): resumes batch 2 with the same idempotency key, then the rest
        monkeypatch.setenv("CHURNML_WEBHOOK_SECRET", crm.secret)
        cfg = Settings(work_dir=tmp_path).crm
        cfg.webhook.url, cfg.webhook.batch_size = crm.url + WEBHOOK_PATH, 20
        rep = push_scores(cfg, store, AS_OF)
        assert rep.resumed_batches == 8 and rep.acked == 160 and rep.unchanged == 40
        assert crm.duplicate_keys == 1  # batch 2 arrived twice; the receiver dropped the repeat
        assert set(crm.deliveries) == set(scores["account_id"])
        assert set(crm.deliveries.values()) == {1}  # every record delivered exactly once
        record_property("killed after 3 of 10 batches; records delivered once",
                        f"{len(crm.deliveries)} of {len(scores)} (repeats dropped: {crm.duplicate_keys})")
    ledger = PushLedger(store).records(AS_OF, "webhook")
    assert len(ledger) == 200 and (ledger["status"] == "acked").all()
    assert (PushLedger(store).batches(AS_OF, "webhook")["status"] == "acked").all()
