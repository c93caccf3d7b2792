"""`churnml serve` on a busy port fails at once, before the model loads (issue 19)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml.cli.app import app


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"work_dir: {tmp_path / 'work'}\nserving: {{allow_anonymous: true}}\n")
    return config


def test_busy_port_fails_before_the_app_is_built(busy_port: int, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.app

    def no_app(*_: object, **__: object) -> None:
        raise AssertionError("the app (and its model) must not be built for a busy port")

    monkeypatch.setattr(serving.app, "create_app", no_app)
    res = CliRunner().invoke(app, ["serve", "--port", str(busy_port), "--config", str(_config(tmp_path))])
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"error: port {busy_port} on 127.0.0.1 is already in use")
    assert "--port or serving.port" in res.output


def test_busy_port_fails_within_seconds_from_the_shell(busy_port: int, tmp_path: Path) -> None:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "churnml.cli.app", "serve", "--port", str(busy_port),
                          "--config", str(_config(tmp_path))], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"port {busy_port} on 127.0.0.1 is already in use" in out.stderr
    # loose bound (imports on a loaded machine); that the model never loads is the test above
    assert time.monotonic() - t0 < 45


def test_a_free_port_passes_the_check() -> None:
    from churnml.cli.serve import check_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    check_port("127.0.0.1", free)
    check_port("127.0.0.1", 0)
