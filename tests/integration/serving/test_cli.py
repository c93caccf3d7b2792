"""`churnml apikey new|hash` and `churnml serve`'s refusal to run without keys."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from churnml.cli.app import app
from serving.auth import verify_hash


def test_apikey_new_prints_a_key_and_its_hash() -> None:
    out = CliRunner().invoke(app, ["apikey", "new", "--name", "crm", "--role", "score"])
    assert out.exit_code == 0, out.output
    text = out.output.replace("\n", " ")
    key = re.search(r"give it to crm\): (\S+)", text).group(1)
    hashed = re.search(r'hash: "(scrypt\$[^"]+)"', text).group(1)
    assert verify_hash(key, hashed) and "role: score" in text


def test_apikey_hash_and_bad_role() -> None:
    out = CliRunner().invoke(app, ["apikey", "hash", "--key", "my-key", "--name", "bi"])
    hashed = re.search(r'hash: "(scrypt\$[^"]+)"', out.output).group(1)
    assert out.exit_code == 0 and verify_hash("my-key", hashed) and "my-key" not in out.output
    bad = CliRunner().invoke(app, ["apikey", "new", "--name", "x", "--role", "admin"])
    assert bad.exit_code != 0


def test_serve_without_keys_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"work_dir: {tmp_path}\nserving: {{api_keys: []}}\n")
    out = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert out.exit_code == 1
    assert "no API keys configured" in out.output and "Traceback" not in out.output
