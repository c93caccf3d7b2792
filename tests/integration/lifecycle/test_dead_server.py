"""A dead MLflow tracking server: `churnml train` fails in seconds with one clear line (not minutes of retries)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.lifecycle.tracking import ENV_TRACKING_URI, TrackingUnavailable, check_server


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_train_against_a_closed_port_fails_in_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      record_property: Callable[[str, object], None]) -> None:
    import churnml.training.job  # noqa: F401  (imported first: the clock is for the command, not for importing LightGBM)
    from churnml.cli.app import app

    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv(ENV_TRACKING_URI, uri)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"work_dir": str(tmp_path / "work"), "data": {"dir": str(tmp_path / "none")}}))
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["train", "-c", str(config)])
    elapsed = time.perf_counter() - t0
    record_property("train against a closed port failed after", f"{elapsed:.1f} s")
    assert res.exit_code == 1, res.output
    message = " ".join(res.output.split())  # rich wraps at the test terminal's width
    assert message.startswith(f"error: MLflow tracking server {uri} does not answer")
    assert f"unset {ENV_TRACKING_URI}" in message and "Traceback" not in res.output
    assert elapsed < 10, f"took {elapsed:.1f}s"  # MLflow's own retries took 267 s here


def test_a_server_that_accepts_but_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        t0 = time.perf_counter()
        with pytest.raises(TrackingUnavailable, match="does not answer"):
            check_server(uri, timeout=0.5)
        assert time.perf_counter() - t0 < 5


def test_local_stores_are_not_probed(tmp_path: Path) -> None:
    check_server(f"sqlite:///{tmp_path / 'mlflow.db'}", timeout=0.01)  # no network involved: returns at once
    check_server(str(tmp_path / "mlruns"), timeout=0.01)
