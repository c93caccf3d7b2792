"""Against a real `mlflow server` on loopback: log a run, register, promote, roll back, load the champion.

The server is started by the test (SQLite backend, served artifacts in a temp folder, free port on 127.0.0.1),
polled on /health with a bounded timeout and killed at teardown. Slow (~15 s) but part of `make test`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from churnml.lifecycle.tracking import ENV_TRACKING_URI
from tests.integration.lifecycle.test_tracking import fit_small_model

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its uvicorn workers: its own process group
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'backend.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
    ]
    env = {k: v for k, v in os.environ.items() if k != ENV_TRACKING_URI}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                tail = (root / "server.log").read_text()[-3000:]
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {START_TIMEOUT_S}s:\n"
                            f"{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"url": url, "root": root}
    finally:
        _stop(proc)
        log.close()


def test_remote_round_trip(server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure
    from churnml.model.pyfunc import PROBABILITY, load_churn_model, pyfunc_input

    monkeypatch.setenv(ENV_TRACKING_URI, server["url"])
    work = tmp_path / "work"
    client = configure(work)
    assert client.tracking_uri == server["url"]  # the environment wins over the work directory

    model, frame = fit_small_model(seed=21)
    lineage = {"source": "s3://bucket/features.parquet", "frame_sha256": "f" * 64, "rows": len(frame),
               "as_of_min": "2024-01-01", "as_of_max": "2024-04-01"}
    run = log_run(client, RunRecord(model, frame.head(10), metrics={"roc_auc": 0.7, "churned_mrr_share_top10": 0.3,
                                                                    "backtest/fold_0/roc_auc": 0.69},
                                    lineage=lineage, tables={"overall": {"model": "lightgbm", "roc_auc": 0.7}},
                                    backtest="bt"))
    got = client.get_run(run.run_id)
    assert got.data.metrics["backtest/fold_0/roc_auc"] == 0.69
    assert got.data.tags["data.digest"] == "f" * 64
    assert got.inputs.dataset_inputs[0].dataset.source_type == "s3"

    reg = ModelRegistry.from_work_dir(work)
    assert reg.audit_file is None  # remote: the history lives on the server only
    v1 = reg.register(run.run_id)
    assert reg.promote_if_better(v1).promote
    v2 = reg.register(run.run_id, {"roc_auc": 0.702, "churned_mrr_share_top10": 0.3})
    assert not reg.promote_if_better(v2).promote
    assert reg.get_version(v2).decision.startswith("stays challenger")
    v3 = reg.register(run.run_id, {"roc_auc": 0.8, "churned_mrr_share_top10": 0.4})
    assert reg.promote_if_better(v3).promote
    assert reg.rollback("remote rollback") == v1
    assert [e.event for e in reg.history()] == [
        "register", "promote", "register", "decline", "register", "promote", "rollback",
    ]
    # A second client (another process/machine would be the same) sees the same history and aliases.
    other = ModelRegistry(mlflow.MlflowClient(tracking_uri=server["url"]))
    assert other.history() == reg.history() and other.champion() == v1

    # Nothing landed in the work directory; artifacts went to the server's destination.
    assert not (work / "mlflow.db").exists() and not (work / "mlartifacts").exists()
    assert any((server["root"] / "artifacts").rglob("churn_model.pkl"))

    champion = load_churn_model(reg.model_uri())
    np.testing.assert_array_equal(champion.predict_proba(frame), model.predict_proba(frame))
    scored = mlflow.pyfunc.load_model(reg.model_uri()).predict(pyfunc_input(model, frame.head(20)))
    np.testing.assert_array_equal(scored[PROBABILITY].to_numpy(), model.predict_proba(frame.head(20))[:, 1])
