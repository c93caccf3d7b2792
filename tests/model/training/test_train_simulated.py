"""`churnml train` on simulated logs: default settings on an 18-month log, the oracle as a ceiling, fast failure."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.simulate import simulate_world


def _config(tmp: Path, data: Path) -> Path:
    cfg = tmp / "cfg.yaml"  # nothing about models: the defaults
    cfg.write_text(yaml.safe_dump({"work_dir": str(tmp / "work"), "data": {"dir": str(data)}}))
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """An 18-month log (about 12 months of labelled as-of dates with a 90-day horizon), trained by the CLI."""
    from churnml.cli.app import app

    tmp = tmp_path_factory.mktemp("sim18")
    simulate_world(tmp / "data", 500, dt.date(2023, 1, 1), 18, seed=21, progress=False)
    report = tmp / "report.json"
    res = CliRunner().invoke(app, ["train", "-c", str(_config(tmp, tmp / "data")), "--report-json", str(report)])
    assert res.exit_code == 0, res.output
    return res.output, json.loads(report.read_text())


def test_default_settings_train_on_twelve_months_of_labelled_history(trained: tuple[str, dict]) -> None:
    output, doc = trained
    layout = doc["layout"]
    assert layout["horizon_days"] == 90 and layout["gap_days"] == 104
    assert 330 <= layout["labelled_history_days"] <= 400
    assert layout["n_folds"] < 4 and "instead of 4 folds" in layout["reason"]
    assert "layout: " in output and "instead of 4 folds" in output  # the report names the chosen layout
    assert "ROC-AUC: lightgbm" in output and ("not distinguishable" in output or "beats" in output)
    models = {r["model"] for r in doc["baselines"]}
    assert models == {"recency", "rfm", "logistic", "health_score"}


def test_the_model_does_not_beat_the_exact_oracle_beyond_noise(trained: tuple[str, dict]) -> None:
    _, doc = trained
    comp = {(c["versus"], c["metric"]): c for c in doc["comparisons"]}
    for metric in ("log_loss", "brier"):
        c = comp[("oracle", metric)]
        # lightgbm - oracle: an interval entirely below zero would mean the model beats the ceiling.
        assert c["hi"] >= 0, c
        assert not c["verdict"].startswith("beats")
    assert doc["oracle"][0]["roc_auc"] >= doc["overall"][0]["roc_auc"] - 0.05


def test_too_short_a_history_stops_before_any_feature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.cli.app import app
    from churnml.training import job

    simulate_world(tmp_path / "data", 40, dt.date(2024, 1, 1), 8, seed=2, progress=False)

    def no_features(*args: object, **kwargs: object) -> None:
        raise AssertionError("features were computed although no fold fits")

    monkeypatch.setattr(job, "build_training_frame", no_features)
    res = CliRunner().invoke(app, ["train", "-c", str(_config(tmp_path, tmp_path / "data"))])
    assert res.exit_code == 1, res.output
    words = " ".join(res.output.split())  # rich wraps long lines
    assert "one honest fold needs at least 239 days" in words and "shorten labels.horizon_days" in words
    assert "Traceback" not in res.output
