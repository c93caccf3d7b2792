"""`churnml push` without --as-of pushes the latest scored date; a date never scored is one clear error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from churnml.cli.app import app
from tests.support.crm_scores import store_scores

EARLY, LATE = dt.date(2025, 3, 3), dt.date(2025, 3, 10)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"work_dir: {tmp_path / 'work'}\ncrm:\n  files: {{dir: {tmp_path / 'out'}}}\n")
    return cfg


def test_push_defaults_to_the_latest_scored_date(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(app, ["push", "--to", "csv", "--config", str(cfg)], terminal_width=200)
    assert empty.exit_code == 1 and "no scores stored in" in empty.output
    assert "run `churnml score` first" in empty.output
    store_scores(tmp_path / "work" / "scores.duckdb", 12, EARLY)
    store_scores(tmp_path / "work" / "scores.duckdb", 8, LATE, seed=1)
    res = runner.invoke(app, ["push", "--to", "csv", "--config", str(cfg)], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert f"scores of {LATE}" in res.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"churn_scores_{LATE}_000.csv"]
    missing = runner.invoke(app, ["push", "--to", "csv", "--as-of", "2025-03-17", "--config", str(cfg)],
                            terminal_width=200)
    assert missing.exit_code == 1
    assert "no scores stored for 2025-03-17" in missing.output and f"scored dates: {EARLY}, {LATE}" in missing.output
