"""Registry: the promotion rule (pure), the champion/challenger flow, rollback, errors and the audit history."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from churnml.lifecycle.registry import (
    AuditEntry,
    Decision,
    ModelRegistry,
    PromotionPolicy,
    RegistryError,
    champion_stack,
    decide_promotion,
    headline,
    rollback_target,
)
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from tests.integration.lifecycle.test_tracking import fit_small_model

REV = "churned_mrr_share_top10"


def m(auc: float, rev: float, **extra: float) -> dict[str, float]:
    return {"roc_auc": auc, REV: rev, **extra}


# --------------------------------------------------------------------------- the rule (pure)


def test_first_model_is_promoted() -> None:
    d = decide_promotion(m(0.6, 0.1), None)
    assert d == Decision(True, "no champion yet: first model is promoted")


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "words"),
    [
        (m(0.810, 0.40), m(0.800, 0.40), True, "beats champion"),  # +0.010 AUC, equal revenue (margin 0)
        (m(0.804, 0.50), m(0.800, 0.40), False, "ROC-AUC 0.8040 vs 0.8000 (+0.0040 < margin 0.0050)"),
        (m(0.900, 0.39), m(0.800, 0.40), False, "revenue captured 0.3900 vs 0.4000"),
        (m(0.805, 0.40), m(0.800, 0.40), True, "+0.0050 >= 0.0050"),  # exactly the margin counts
        ({"roc_auc": 0.9}, m(0.8, 0.4), False, "challenger has no revenue captured"),
        (m(math.nan, 0.5), m(0.8, 0.4), False, "challenger has no ROC-AUC"),
        (m(0.81, 0.5), {"roc_auc": 0.8}, True, "champion has none"),
    ],
)
def test_decision_rule(challenger: dict, champion: dict, promote: bool, words: str) -> None:
    d = decide_promotion(challenger, champion)
    assert d.promote is promote
    assert words in d.reason
    assert d.reason.startswith("beats champion" if promote else "stays challenger")


def test_margins_are_configurable() -> None:
    strict = PromotionPolicy(margin_auc=0.05, margin_revenue=0.02)
    assert not decide_promotion(m(0.84, 0.50), m(0.80, 0.40), strict).promote
    assert not decide_promotion(m(0.86, 0.41), m(0.80, 0.40), strict).promote
    assert decide_promotion(m(0.86, 0.43), m(0.80, 0.40), strict).promote
    with pytest.raises(ValueError):
        PromotionPolicy(margin_auc=-0.1)


def _e(event: str, version: int) -> AuditEntry:
    return AuditEntry(ts="t", event=event, version=version, previous=None, reason="", metrics={}, actor="a")


def test_rollback_walks_back_through_champions() -> None:
    h = [_e("register", 1), _e("promote", 1), _e("decline", 2), _e("promote", 3), _e("promote", 4)]
    assert champion_stack(h) == [1, 3, 4]
    assert rollback_target(h, 4) == 3
    h.append(_e("rollback", 3))
    assert rollback_target(h, 3) == 1  # a second rollback goes further back, not back to 4
    h.append(_e("rollback", 1))
    assert rollback_target(h, 1) is None


def test_headline_drops_breakdowns() -> None:
    assert headline({"roc_auc": 0.8, "backtest/fold_1/roc_auc": 0.7, "baseline/logistic/roc_auc": 0.6,
                     "oracle/roc_auc": 0.9, "backtest/segment_SMB/roc_auc": 0.5, "ece": math.nan}) == {"roc_auc": 0.8}
    # versions registered before the namespaces keep their flat names
    assert headline({"roc_auc": 0.8, "fold_1_roc_auc": 0.7, "baseline_logistic_roc_auc": 0.6,
                     "oracle_roc_auc": 0.9, "segment_SMB_roc_auc": 0.5}) == {"roc_auc": 0.8}


# --------------------------------------------------------------------------- the flow (embedded store)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An embedded store with one logged run of a real tiny ChurnModel (registered several times below)."""
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure

    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    try:
        work = tmp_path_factory.mktemp("work")
        model, frame = fit_small_model(seed=11)
        client = configure(work)
        run = log_run(client, RunRecord(model, frame.head(10), metrics=m(0.70, 0.30), backtest="bt-1", run_name="t"))
        yield {"work": work, "client": client, "run": run, "model": model, "frame": frame}
    finally:
        mp.undo()


def _registry(store: dict[str, Any], name: str) -> ModelRegistry:
    return ModelRegistry.from_work_dir(store["work"], name=name)


def test_alias_flow_and_history(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    reg = _registry(store, "churn-risk")
    run_id = store["run"].run_id
    assert reg.list_versions() == [] and reg.history() == [] and reg.champion() is None
    snapshots: list[list[AuditEntry]] = []

    v1 = reg.register(run_id)  # metrics and backtest key taken from the run
    assert v1 == 1 and reg.aliases() == {"challenger": 1}
    assert reg.get_version(1).metrics["roc_auc"] == pytest.approx(0.70)
    assert reg.get_version(1).backtest == "bt-1"
    d1 = reg.promote_if_better(v1)
    assert d1.promote and reg.aliases() == {"champion": 1}
    snapshots.append(reg.history())

    v2 = reg.register(run_id, m(0.702, 0.35))  # AUC gain below the 0.005 margin
    d2 = reg.promote_if_better(v2)
    assert not d2.promote and "ROC-AUC" in d2.reason
    assert reg.aliases() == {"champion": 1, "challenger": 2}
    assert reg.get_version(2).decision == d2.reason
    snapshots.append(reg.history())

    v3 = reg.register(run_id, m(0.75, 0.30))
    d3 = reg.promote_if_better(v3)
    assert d3.promote and reg.aliases() == {"champion": 3}  # challenger alias moved to the champion, then cleared
    assert reg.promote_if_better(v3) == Decision(False, "version 3 is already champion")
    snapshots.append(reg.history())

    assert reg.rollback("v3 mis-ranks enterprise accounts") == 1
    assert reg.champion() == 1
    with pytest.raises(RegistryError, match="no previous champion"):
        reg.rollback("again")
    snapshots.append(reg.history())

    events = [(e.event, e.version, e.previous) for e in reg.history()]
    assert events == [
        ("register", 1, None), ("promote", 1, None),
        ("register", 2, 1), ("decline", 2, 1),
        ("register", 3, 1), ("promote", 3, 1),
        ("rollback", 1, 3),
    ]
    last = reg.history()[-1]
    assert last.reason == "v3 mis-ranks enterprise accounts" and last.metrics["roc_auc"] == pytest.approx(0.70)
    assert reg.history()[3].reason == d2.reason and reg.history()[5].metrics == {"roc_auc": 0.75, REV: 0.30}
    # Append-only: every earlier view of the history is a prefix of every later one.
    for earlier, later in itertools.pairwise(snapshots):
        assert later[: len(earlier)] == earlier
    # The embedded mirror holds the same entries, in order.
    lines = (store["work"] / "registry_audit.jsonl").read_text().splitlines()
    assert [AuditEntry(**json.loads(line)) for line in lines] == reg.history()

    listed = reg.list_versions()
    assert [v.version for v in listed] == [1, 2, 3]
    assert [v.aliases for v in listed] == [("champion",), (), ()]  # v2 lost "challenger" to v3


def test_unknown_version_is_a_clear_error(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    reg = _registry(store, "churn-unknown")
    with pytest.raises(RegistryError, match="no versions are registered yet"):
        reg.promote(1, "x")
    for _ in range(3):
        reg.register(store["run"].run_id)
    with pytest.raises(RegistryError) as err:
        reg.promote(7, "x")
    assert str(err.value) == "model 'churn-unknown' has no version 7; versions: 1, 2, 3"
    with pytest.raises(RegistryError, match="no champion to roll back"):
        reg.rollback("x")
    with pytest.raises(RegistryError, match="no run"):
        reg.register("0" * 32)
    with pytest.raises(RegistryError, match="invalid registered model name"):
        ModelRegistry(reg.client, name="bad'name")


def test_manual_promote_and_champion_loads(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.model.pyfunc import load_churn_model

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    reg = _registry(store, "churn-manual")
    v1 = reg.register(store["run"].run_id)
    v2 = reg.register(store["run"].run_id, m(0.1, 0.1))
    reg.promote(v2, "CS lead asked for it")
    assert reg.champion() == v2
    with pytest.raises(RegistryError, match="already champion"):
        reg.promote(v2, "again")
    assert reg.history()[-1].reason == "CS lead asked for it"
    with pytest.raises(RegistryError, match="no previous champion"):  # v2 was the first champion
        reg.rollback("no")
    assert reg.aliases() == {"champion": v2}  # v1 lost the challenger alias to v2 when v2 was registered
    assert v1 == 1
    model, frame = store["model"], store["frame"]
    loaded = load_churn_model(reg.model_uri())
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_different_backtests_are_not_compared(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    reg = _registry(store, "churn-backtests")
    reg.promote_if_better(reg.register(store["run"].run_id, m(0.70, 0.30), backtest="bt-1"))
    v2 = reg.register(store["run"].run_id, m(0.90, 0.60), backtest="bt-2")
    d = reg.promote_if_better(v2)
    assert not d.promote and "another backtest" in d.reason and reg.champion() == 1
    # The champion's configuration scored on bt-2 (e.g. as one more model in the same backtest):
    d = reg.promote_if_better(v2, champion_metrics=m(0.91, 0.50))
    assert not d.promote and "ROC-AUC 0.9000 vs 0.9100" in d.reason
    d = reg.promote_if_better(v2, champion_metrics=m(0.80, 0.50), margin_auc=0.2)
    assert not d.promote and "margin 0.2000" in d.reason
    assert reg.promote_if_better(v2, champion_metrics=m(0.80, 0.50)).promote
    assert [e.event for e in reg.history()].count("decline") == 3


# --------------------------------------------------------------------------- CLI


def test_cli(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from churnml.cli import errors as cli_errors
    from churnml.cli import models as cli_models
    from churnml.cli.models import models_app

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    monkeypatch.setenv("CHURNML_WORK_DIR", str(store["work"]))
    monkeypatch.setattr(cli_models, "console", Console(width=250))  # no wrapping inside table cells
    monkeypatch.setattr(cli_errors, "err_console", Console(width=250, stderr=True))
    reg = _registry(store, "churn-cli")
    v1 = reg.register(store["run"].run_id)
    reg.register(store["run"].run_id, m(0.8, 0.4))
    runner = CliRunner()
    args = ["--name", "churn-cli"]

    out = runner.invoke(models_app, ["list", *args])
    assert out.exit_code == 0, out.output
    assert "churn-cli versions" in out.output and "challenger" in out.output

    out = runner.invoke(models_app, ["promote", "7", "--reason", "x", *args])
    assert out.exit_code == 1
    assert "has no version 7; versions: 1, 2" in out.output and "Traceback" not in out.output

    out = runner.invoke(models_app, ["rollback", *args])
    assert out.exit_code == 1 and "no champion to roll back" in out.output

    assert runner.invoke(models_app, ["promote", str(v1), "-r", "first", *args]).exit_code == 0
    out = runner.invoke(models_app, ["promote", "2", "-r", "better on enterprise", *args])
    assert out.exit_code == 0 and "v2 of churn-cli is champion (was v1)" in out.output
    out = runner.invoke(models_app, ["rollback", "-r", "bad week", *args])
    assert out.exit_code == 0 and "v1 is champion again" in out.output
    out = runner.invoke(models_app, ["history", *args])
    assert out.exit_code == 0
    assert "better on enterprise" in out.output and "bad week" in out.output and "rollback" in out.output
    out = runner.invoke(models_app, ["history", "--name", "never-registered"])
    assert out.exit_code == 0 and "no history" in out.output


def test_history_is_never_rewritten(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers recording the same event for the same version at once both keep their entries."""
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    a, b = _registry(store, "churn-writers"), _registry(store, "churn-writers")
    v = a.register(store["run"].run_id)
    before = a._log.read()
    for reg in (a, b, a, b):
        reg._audit("decline", v, None, "same event, same version", {})
    after = a._log.read()
    assert after[:len(before)] == before and len(after) == len(before) + 4  # appended, nothing rewritten
    assert [e.reason for e in b.history()].count("same event, same version") == 4


def test_history_is_one_jsonl_artifact_not_model_tags(store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The history is the artifact `registry_audit.jsonl` of one audit run per model; older stores' tags still read."""
    from churnml.lifecycle.audit import ARTIFACT

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    reg = _registry(store, "churn-artifact")
    v = reg.register(store["run"].run_id)
    reg.promote(v, "first")
    tags = reg.client.get_registered_model(reg.name).tags
    assert not [k for k in tags if k.startswith("churnml.audit.")]  # no pile of tags on the model
    (run_id,) = reg._log._runs()
    run = reg.client.get_run(run_id)
    assert run.info.run_name == "registry audit churn-artifact" and run.data.tags["churnml.role"] == "audit"
    local = Path(reg.client.download_artifacts(run_id, ARTIFACT, str(store["work"] / "dl")))
    lines = local.read_text().splitlines()
    assert [AuditEntry(**json.loads(line)) for line in lines] == reg.history()
    assert [(e.event, e.version) for e in reg.history()] == [("register", v), ("promote", v)]
    old = AuditEntry(ts="2020-01-01T00:00:00.000000+00:00", event="promote", version=v, previous=None,
                     reason="from a store before the artifact", metrics={}, actor="someone")
    reg.client.set_registered_model_tag(reg.name, "churnml.audit.20200101T000000.000000Z.abcd", old.to_json())
    assert reg.history()[0] == old and len(reg.history()) == 3
