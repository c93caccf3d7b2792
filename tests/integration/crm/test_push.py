"""Push against local fake CRMs: shapes, batch limits, auth, per-record errors, faults, changed-only, resume."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.crm.ledger import PushLedger
from churnml.crm.mapping import CrmConfig, FilesConfig, HubSpotConfig, RetryConfig, WebhookConfig
from churnml.crm.push import push_scores
from churnml.crm.targets.base import PushError
from churnml.scoring.store import ScoreStore
from tests.support.crm_scores import make_scores, store_scores
from tests.support.fake_crm import WEBHOOK_PATH, FakeCrm

AS_OF = dt.date(2025, 3, 3)
FAST = RetryConfig(attempts=4, backoff_base_s=0.001, backoff_max_s=5, timeout_s=0.5)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "http://127.0.0.1:9")  # tests set their server's URL
    monkeypatch.setenv("HUBSPOT_TOKEN", "tok")
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("CHURNML_WEBHOOK_SECRET", "s3cret")


def _cfg(crm: FakeCrm, **retry: float) -> CrmConfig:
    os.environ["SALESFORCE_INSTANCE_URL"] = crm.url  # restored by the autouse fixture's monkeypatch
    return CrmConfig(target=crm.kind, hubspot=HubSpotConfig(base_url=crm.url),
                     webhook=WebhookConfig(url=crm.url + WEBHOOK_PATH, batch_size=100),
                     retry=FAST.model_copy(update=retry))


def test_webhook_pushes_changed_scores_only(tmp_path: Path) -> None:
    store = tmp_path / "scores.duckdb"
    first = store_scores(store, 250, AS_OF)
    with FakeCrm("webhook") as crm:
        cfg = _cfg(crm)
        rep = push_scores(cfg, store, AS_OF)
        assert (rep.planned, rep.acked, rep.batches, rep.unchanged) == (250, 250, 3, 0)
        assert crm.batch_sizes == [100, 100, 50] and set(crm.deliveries.values()) == {1}
        assert crm.state[first["account_id"][0]]["churn_risk"] == round(first["churn_probability"][0], 4)
        # same week again: everything already acknowledged, nothing sent
        again = push_scores(cfg, store, AS_OF)
        assert (again.planned, again.batches, crm.requests) == (0, 0, 3)
        # next week: five scores moved; only they are pushed
        nxt = AS_OF + dt.timedelta(days=7)
        week2 = make_scores(250, nxt)
        week2.loc[:4, "churn_probability"] += 0.1
        ScoreStore(store).write(week2)
        rep2 = push_scores(cfg, store, nxt)
        assert (rep2.planned, rep2.unchanged, rep2.acked) == (5, 245, 5)
        assert set(crm.deliveries[a] for a in week2["account_id"][:5]) == {2}
        # --full sends every account once more, those already pushed for this date included
        full = push_scores(cfg, store, nxt, full=True)
        assert full.planned == 250 and full.acked == 250 and sum(crm.deliveries.values()) == 250 + 5 + 250
    ledger = PushLedger(store).records(target="webhook")
    assert (ledger["status"] == "acked").all() and len(ledger) == 500


def test_hubspot_faults_are_retried_and_rejections_reported(tmp_path: Path) -> None:
    store = tmp_path / "scores.duckdb"
    scores = store_scores(store, 230, AS_OF)
    bad = set(scores["account_id"][[3, 150]])
    sleeps: list[float] = []
    faults = {1: "429", 2: "500", 4: "drop", 6: "timeout"}
    with FakeCrm("hubspot", reject=bad, faults=faults, retry_after="2", timeout_sleep=1.0) as crm:
        rep = push_scores(_cfg(crm), store, AS_OF, sleep=sleeps.append)
        assert crm.batch_sizes == [100, 100, 30]  # never over HubSpot's 100
        assert rep.acked == 228 and set(rep.rejected) == bad and rep.retries == 4
        assert "OBJECT_NOT_FOUND" in rep.rejected[next(iter(bad))]
        assert sleeps[0] == 2.0  # Retry-After honoured
        assert all(s < 1 for s in sleeps[1:])  # exponential backoff from a tiny base
        assert set(crm.deliveries) == set(scores["account_id"]) - bad
        # rejected records are reported, not retried forever: the same payload is not sent again
        again = push_scores(_cfg(crm), store, AS_OF, sleep=sleeps.append)
        assert again.planned == 0 and crm.requests == 7
    led = PushLedger(store).records(AS_OF, "hubspot").set_index("account_id")
    assert (led.loc[sorted(bad), "status"] == "rejected").all()
    assert led.loc[sorted(bad), "error"].str.contains("OBJECT_NOT_FOUND").all()


def test_salesforce_upsert_auth_failure_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "scores.duckdb"
    scores = store_scores(store, 450, AS_OF)
    bad = {scores["account_id"][10]}
    with FakeCrm("salesforce", reject=bad) as crm:
        cfg = _cfg(crm)
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "expired")
        with pytest.raises(PushError, match="HTTP 401, credentials refused"):
            push_scores(cfg, store, AS_OF)
        batches = PushLedger(store).batches(AS_OF, "salesforce")
        assert list(batches["status"]) == ["failed", "planned", "planned"] and list(batches["records"]) == [200, 200,
                                                                                                           50]
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "tok")
        rep = push_scores(cfg, store, AS_OF)
        assert rep.resumed_batches == 3 and rep.acked == 449 and rep.rejected[next(iter(bad))].startswith(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: risk band locked (Churn_Risk_Band__c)")
        assert crm.batch_sizes == [200, 200, 50] and set(crm.deliveries.values()) == {1}
        one = crm.state[scores["account_id"][0]]
        assert one["Churn_Risk__c"] == round(scores["churn_probability"][0], 4)


def test_retries_exhausted_stop_the_push_and_the_next_push_resumes(tmp_path: Path) -> None:
    store = tmp_path / "scores.duckdb"
    store_scores(store, 300, AS_OF)
    with FakeCrm("webhook", fault_fn=lambda n: "500" if 2 <= n <= 5 else None) as crm:
        cfg = _cfg(crm)
        with pytest.raises(PushError, match="batch 1 still failing after 4 tries"):
            push_scores(cfg, store, AS_OF, sleep=lambda s: None)
        assert sum(crm.deliveries.values()) == 100
        rep = push_scores(cfg, store, AS_OF, sleep=lambda s: None)
        assert rep.resumed_batches == 2 and rep.acked == 200
        assert len(crm.deliveries) == 300 and set(crm.deliveries.values()) == {1}


def test_missing_secret_and_no_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "scores.duckdb"
    with pytest.raises(PushError, match="no scores stored"):
        push_scores(CrmConfig(), store, AS_OF)
    store_scores(store, 3, AS_OF)
    monkeypatch.delenv("HUBSPOT_TOKEN")
    with pytest.raises(PushError, match="HUBSPOT_TOKEN is not set"):
        push_scores(CrmConfig(), store, AS_OF, target="hubspot")


def test_dry_run_sends_and_records_nothing(tmp_path: Path) -> None:
    store = tmp_path / "scores.duckdb"
    store_scores(store, 120, AS_OF)
    with FakeCrm("webhook") as crm:
        rep = push_scores(_cfg(crm), store, AS_OF, dry_run=True)
        assert rep.dry_run and rep.planned == 120 and rep.batches == 2 and len(rep.preview) == 20
        assert crm.requests == 0
    assert PushLedger(store).records().empty


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_export(tmp_path: Path, fmt: str) -> None:
    store = tmp_path / "scores.duckdb"
    scores = store_scores(store, 40, AS_OF)
    cfg = CrmConfig(files=FilesConfig(dir=tmp_path / "out"))
    rep = push_scores(cfg, store, AS_OF, target=fmt)
    assert rep.acked == 40
    path = tmp_path / "out" / f"churn_scores_2025-03-03_000.{fmt}"
    got = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    assert list(got["account_id"]) == list(scores["account_id"])
    assert got["churn_risk"].tolist() == pytest.approx(scores["churn_probability"].round(4).tolist())


def test_cli_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.cli.app import app

    monkeypatch.setenv("CHURNML_WORK_DIR", str(tmp_path))
    runner = CliRunner()
    res = runner.invoke(app, ["push", "--to", "webhook", "--as-of", "2025-03-03"])
    assert res.exit_code == 1 and "no scores stored for 2025-03-03" in res.output
    store_scores(tmp_path / "scores.duckdb", 30, AS_OF)
    with FakeCrm("webhook") as crm:
        monkeypatch.setenv("CHURNML_CRM__WEBHOOK__URL", crm.url + WEBHOOK_PATH)
        res = runner.invoke(app, ["push", "--to", "webhook", "--as-of", "2025-03-03", "--dry-run"])
        assert res.exit_code == 0, res.output
        assert "would push" in res.output and crm.requests == 0
        res = runner.invoke(app, ["push", "--to", "webhook", "--as-of", "2025-03-03"])
        assert res.exit_code == 0, res.output
        assert len(crm.deliveries) == 30 and "acknowledged" in res.output
        # --full for the date just pushed sends every account again (the docs' promise)
        res = runner.invoke(app, ["push", "--to", "webhook", "--as-of", "2025-03-03", "--full"])
        assert res.exit_code == 0, res.output
        assert set(crm.deliveries.values()) == {2}


def test_full_push_of_a_date_already_pushed_sends_every_account(tmp_path: Path) -> None:
    store = tmp_path / "scores.duckdb"
    scores = store_scores(store, 150, AS_OF)
    bad = {scores["account_id"][7]}
    with FakeCrm("webhook", reject=bad, fault_fn=lambda n: "500" if n == 4 else None) as crm:
        cfg = _cfg(crm, attempts=1)
        first = push_scores(cfg, store, AS_OF)
        assert first.acked == 149 and set(first.rejected) == bad
        with pytest.raises(PushError):  # the full push's second batch fails once: it stays pending
            push_scores(cfg, store, AS_OF, full=True)
        resumed = push_scores(cfg, store, AS_OF, full=True)  # resumes it, and plans the rest anew
        assert resumed.resumed_batches == 1 and resumed.planned == 150
        assert crm.deliveries[next(iter(bad))] == 0  # rejected each time, and tried each time
        # the full push's first batch landed twice (before and after the failure), the failed one once
        assert Counter(crm.deliveries.values()) == {3: 99, 2: 50}
        assert push_scores(cfg, store, AS_OF).planned == 0  # nothing left changed or pending
    ledger = PushLedger(store).records(AS_OF, "webhook")
    assert len(ledger) == 150 and set(ledger["status"]) == {"acked", "rejected"}
