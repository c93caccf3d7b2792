"""Tasks for alerts against the stand-in task APIs: contracts of HubSpot, Salesforce and Slack, and the score push's
fault tests — 429/5xx/dropped connections retried, killed mid-push then resumed (each task exactly once), a duplicate
run sends nothing, held-out alerts are never sent, and task batches never mix with score batches in the ledger."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml.config import PlaysConfig, Settings
from churnml.crm.ledger import PushLedger
from churnml.crm.mapping import CrmConfig, HubSpotConfig, RetryConfig
from churnml.crm.targets.base import PushError
from churnml.crm.task_push import push_tasks
from churnml.plays.delivery import deliver_tasks, week_alerts
from tests.support.alert_world import accounts, store_alerts
from tests.support.fake_tasks import SLACK_PATH, FakeTaskCrm

ROOT = Path(__file__).resolve().parents[3]
WEEK1, WEEK2 = dt.date(2025, 3, 3), dt.date(2025, 3, 10)
FAST = RetryConfig(attempts=4, backoff_base_s=0.001, backoff_max_s=5, timeout_s=0.5)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9")  # tests set their server's URL
    monkeypatch.setenv("HUBSPOT_TOKEN", "tok")
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/none")


def _settings(tmp_path: Path, crm: FakeTaskCrm, monkeypatch: pytest.MonkeyPatch, **retry: float) -> Settings:
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", crm.url)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", crm.url + SLACK_PATH)
    cfg = CrmConfig(hubspot=HubSpotConfig(base_url=crm.url), retry=FAST.model_copy(update=retry))
    cfg.tasks.target = crm.kind  # type: ignore[assignment]
    cfg.tasks.hubspot.batch_size, cfg.tasks.salesforce.batch_size = 10, 10
    return Settings(work_dir=tmp_path, crm=cfg, plays=PlaysConfig(holdout=0.25, deliver_tasks=True))


def _routed(tmp_path: Path, as_of: dt.date = WEEK1) -> tuple[set[str], set[str]]:
    alerts = store_alerts(tmp_path, accounts(40), as_of)
    held = set(alerts.loc[alerts["held_out"].astype(bool), "alert_id"])
    return set(alerts["alert_id"]) - held, held


@pytest.mark.parametrize("kind", ["hubspot", "salesforce", "slack"])
def test_contract_each_routed_alert_becomes_one_task_and_a_rerun_sends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    live, held = _routed(tmp_path)
    assert len(held) >= 5 and len(live) >= 25  # the holdout drew some of them
    with FakeTaskCrm(kind) as crm:
        s = _settings(tmp_path, crm, monkeypatch)
        rep = deliver_tasks(s)
        assert rep.target == f"{kind}:tasks" and rep.acked == len(live) and not rep.rejected
        assert rep.held_out == len(held) and rep.scored == len(live)
        assert set(crm.tasks) == live and set(crm.created.values()) == {1}  # held-out alerts never reached it
        one = sorted(live)[0]
        task, account = crm.tasks[one], one.split(":")[0]
        if kind == "hubspot":
            assert crm.batch_sizes[:3] == [10, 10, 10]  # company lookup, upsert, association per batch
            assert task["hs_task_subject"].endswith(f": {account} (high churn risk)") or "medium" in \
                task["hs_task_subject"]
            assert task["hs_timestamp"] == "2025-03-10T12:00:00.000Z" and "Why: " in task["hs_task_body"]
            assert (task["id"], f"9{account}") in crm.associations and len(crm.associations) == len(live)
        elif kind == "salesforce":
            assert task["WhatId"] == f"001{account}" and task["ActivityDate"] == "2025-03-10"
            assert "Top reasons: Logins fell by half; 3 open tickets" in task["Description"]
        else:
            assert crm.batch_sizes == [1] * len(live)  # one message per alert
            assert task["blocks"][-1]["elements"][0]["text"] == f"churnml alert `{one}`"
        requests = crm.requests
        again = deliver_tasks(s)  # the same week again: every alert already delivered
        assert (again.planned, again.batches, again.unchanged, crm.requests) == (0, 0, len(live), requests)
    ledger = PushLedger(s.work_dir / "scores.duckdb")
    assert set(ledger.records(target=f"{kind}:tasks")["account_id"]) == live
    assert ledger.records(target=kind).empty  # task batches never under the score push's target name


def test_faults_are_retried_and_per_task_rejections_reported_once(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = _routed(tmp_path)
    bad = sorted(live)[3]
    sleeps: list[float] = []
    # three requests per batch (lookup, upsert, association), the whole batch retried: 429 on batch 0's lookup,
    # 500 on its upsert, a dropped connection on batch 1's lookup, a timeout on batch 2's upsert
    faults = {1: "429", 3: "500", 7: "drop", 12: "timeout"}
    with FakeTaskCrm("hubspot", reject={bad}, faults=faults, retry_after="2", timeout_sleep=1.0) as crm:
        s = _settings(tmp_path, crm, monkeypatch)
        rep = deliver_tasks(s, sleep=sleeps.append)
        assert rep.retries == 4 and sleeps[0] == 2.0 and all(x < 1 for x in sleeps[1:])  # Retry-After honoured
        assert rep.acked == len(live) - 1 and "VALIDATION_ERROR" in rep.rejected[bad]
        assert set(crm.created.values()) == {1} and set(crm.tasks) == live - {bad}
        again = deliver_tasks(s, sleep=sleeps.append)  # a rejection is final for that alert: not sent again
        assert again.planned == 0 and bad not in crm.tasks
    led = PushLedger(s.work_dir / "scores.duckdb").records(target="hubspot:tasks").set_index("account_id")
    assert led.loc[bad, "status"] == "rejected" and "VALIDATION_ERROR" in led.loc[bad, "error"]


def test_accounts_missing_in_the_crm_are_rejected_with_the_reason(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = _routed(tmp_path)
    gone = sorted(live)[0].split(":")[0]
    known = {a for a in accounts(40) if a != gone}
    with FakeTaskCrm("salesforce", accounts=known) as crm:
        rep = deliver_tasks(_settings(tmp_path, crm, monkeypatch))
    lost = {a for a in live if a.startswith(gone + ":")}
    assert set(rep.rejected) == lost and rep.acked == len(live) - len(lost)
    assert rep.rejected[next(iter(lost))] == f"no Salesforce Account with Churnml_Account_Id__c = {gone}"


def test_retries_exhausted_stop_the_push_and_next_week_resumes_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = _routed(tmp_path)
    with FakeTaskCrm("salesforce", fault_fn=lambda n: "500" if n <= 4 else None) as crm:
        s = _settings(tmp_path, crm, monkeypatch)
        with pytest.raises(PushError, match=r"salesforce:tasks: batch 0 still failing after 4 tries"):
            deliver_tasks(s, sleep=lambda x: None)
        assert not crm.tasks
        # next week: an alert still open is not planned again, new ones are; week 1's failed batch goes first
        alerts = store_alerts(tmp_path, accounts(40) + accounts(6, start=100), WEEK2)
        live2, _ = week_alerts(alerts, WEEK2)
        assert set(live2["alert_id"]) > live  # week 1's open alerts are still open in week 2
        rep = deliver_tasks(s, sleep=lambda x: None)
        assert rep.resumed_batches >= 1 and rep.as_of == WEEK2
        assert set(crm.tasks) == set(live2["alert_id"]) and set(crm.created.values()) == {1}
        assert set(crm.writes.values()) == {1}  # the failed batch never reached the CRM; no task written twice


def test_kill_mid_push_then_resume_creates_each_task_exactly_once(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live, held = _routed(tmp_path)
    # per batch of 10: lookup, upsert, association. Request 2: 500 on batch 0's upsert (retried: 3, 4, 5);
    # 7: batch 1's upsert is applied by HubSpot and the pusher is SIGKILLed before it hears back, the worst moment.
    with FakeTaskCrm("hubspot", faults={2: "500", 7: "kill"}) as crm:
        env = {**os.environ, "CHURNML_WORK_DIR": str(tmp_path), "CHURNML_CRM__HUBSPOT__BASE_URL": crm.url,
               "CHURNML_CRM__TASKS__HUBSPOT__BATCH_SIZE": "10", "CHURNML_CRM__RETRY__BACKOFF_BASE_S": "0.01",
               "CHURNML_CRM__RETRY__TIMEOUT_S": "10", "HUBSPOT_TOKEN": "tok"}
        proc = subprocess.Popen([sys.executable, "-c", "from churnml.cli.app import app; app()", "push", "--alerts",
                                 "--target", "hubspot"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        crm.kill_pid = proc.pid
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -9, out.decode()[-2000:]
        batches = PushLedger(tmp_path / "scores.duckdb").batches(target="hubspot:tasks")
        assert list(batches["status"][:2]) == ["acked", "sent"] and (batches["status"][2:] == "planned").all()
        assert len(crm.tasks) == 20  # batch 1's tasks exist in HubSpot, unrecorded by the ledger

        rep = deliver_tasks(_settings(tmp_path, crm, monkeypatch))  # resumes batch 1 (same alerts), then the rest
        assert rep.resumed_batches == len(batches) - 1 and rep.acked == len(live) - 10
    assert set(crm.tasks) == live and not set(crm.tasks) & held
    assert set(crm.created.values()) == {1}  # every task created exactly once
    assert Counter(crm.writes.values()) == {1: len(live) - 10, 2: 10}  # batch 1 upserted twice: same tasks
    assert len(crm.associations) == len(live)
    led = PushLedger(tmp_path / "scores.duckdb").records(target="hubspot:tasks")
    assert len(led) == len(live) and (led["status"] == "acked").all()


@pytest.mark.parametrize("honour_key", [True, False], ids=["relay honours Idempotency-Key", "Slack itself"])
def test_chat_kill_mid_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, honour_key: bool) -> None:
    """One message per request: killed after the chat took message 4, the re-run sends it again with the same
    Idempotency-Key. A receiver honouring the key posts it once; Slack itself (no such key) shows that one twice."""
    live, _ = _routed(tmp_path)
    with FakeTaskCrm("slack", faults={2: "429", 5: "kill"}, retry_after="0", honour_key=honour_key) as crm:
        env = {**os.environ, "CHURNML_WORK_DIR": str(tmp_path), "SLACK_WEBHOOK_URL": crm.url + SLACK_PATH,
               "CHURNML_CRM__RETRY__BACKOFF_BASE_S": "0.01", "CHURNML_CRM__RETRY__TIMEOUT_S": "10"}
        proc = subprocess.Popen([sys.executable, "-c", "from churnml.cli.app import app; app()", "push", "--alerts",
                                 "--to", "slack"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        crm.kill_pid = proc.pid
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == -9, out.decode()[-2000:]
        assert len(crm.tasks) == 4
        rep = deliver_tasks(_settings(tmp_path, crm, monkeypatch))
    assert set(crm.tasks) == live and rep.acked == len(live) - 3
    if honour_key:
        assert set(crm.created.values()) == {1} and crm.duplicate_keys == 1
    else:
        assert Counter(crm.created.values()) == {1: len(live) - 1, 2: 1}  # only the message in flight, twice


def test_held_out_alerts_never_sent_even_if_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = store_alerts(tmp_path, accounts(20), WEEK1)
    assert alerts["held_out"].any()
    with FakeTaskCrm("slack") as crm:
        s = _settings(tmp_path, crm, monkeypatch)
        with pytest.raises(ValueError, match="held-out alert"):
            push_tasks(s.crm, tmp_path / "scores.duckdb", alerts, WEEK1)
        assert crm.requests == 0
    assert PushLedger(tmp_path / "scores.duckdb").records().empty


def test_cli_push_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.cli.app import app

    monkeypatch.setenv("CHURNML_WORK_DIR", str(tmp_path))
    runner = CliRunner()
    res = runner.invoke(app, ["push", "--alerts", "--to", "slack"])
    assert res.exit_code == 1 and "no alerts raised yet" in res.output
    res = runner.invoke(app, ["push", "--alerts", "--to", "csv"])
    assert res.exit_code == 1 and "--to csv is not a task target" in res.output
    res = runner.invoke(app, ["push", "--to", "slack"])
    assert res.exit_code == 1 and "--to slack is not a score target" in res.output
    live, held = _routed(tmp_path)
    with FakeTaskCrm("slack") as crm:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", crm.url + SLACK_PATH)
        res = runner.invoke(app, ["push", "--alerts", "--to", "slack", "--dry-run"])
        assert res.exit_code == 0, res.output
        assert "would push" in res.output and crm.requests == 0
        res = runner.invoke(app, ["push", "--alerts", "--target", "slack", "--as-of", WEEK1.isoformat()])
        assert res.exit_code == 0, res.output
        assert set(crm.tasks) == live and not set(crm.tasks) & held and "held out (never sent)" in res.output


def test_a_refused_company_lookup_rejects_the_batch_with_the_crms_answer(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    live, _ = _routed(tmp_path)
    with FakeTaskCrm("hubspot") as crm:
        s = _settings(tmp_path, crm, monkeypatch)
        s.crm.hubspot.id_property = "company_key"  # not the portal's unique company property: HubSpot says 400
        rep = deliver_tasks(s)
        assert rep.acked == 0 and set(rep.rejected) == live and not crm.tasks
        assert rep.rejected[sorted(live)[0]].startswith("company lookup refused: HTTP 400: ")
        assert "idProperty must be the unique company property" in rep.rejected[sorted(live)[0]]
