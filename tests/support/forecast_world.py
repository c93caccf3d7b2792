"""A small simulated world with the churn model trained and the outcome models and forecast fitted through the CLI
(`churnml train`, `churnml train-outcomes`), for the forecast's integration tests (about a minute)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from churnml.config import Settings, load_settings
from churnml.lifecycle.tracking import ENV_TRACKING_URI

FAST_MODELS = {"n_folds": 2, "eval_days": 21, "valid_days": 21, "calib_days": 21, "baselines": [],
               "figures": False, "shap_rows": 100,
               "model": {"n_estimators": 30, "learning_rate": 0.15, "num_leaves": 7, "min_child_samples": 20,
                         "num_threads": 1}}


@dataclass
class ForecastWorld:
    config: Path
    settings: Settings
    data: Path
    as_of: dt.date
    outputs: dict[str, str]


def build_forecast_world(root: Path, mp: pytest.MonkeyPatch) -> ForecastWorld:
    """Simulate 150 accounts × 14 months, then `churnml train` and `churnml train-outcomes` (outputs kept)."""
    from churnml.cli.app import app
    from churnml.data.load import load_data
    from churnml.simulate import simulate_world
    from churnml.training.labels import observed_until

    mp.delenv(ENV_TRACKING_URI, raising=False)
    data = root / "data"
    simulate_world(data, accounts=150, start=dt.date(2024, 1, 1), months=14, seed=5, progress=False)
    cfg = {"work_dir": str(root / "work"), "data": {"dir": str(data)}, "labels": {"horizon_days": 60},
           "models": FAST_MODELS, "forecast": {"draws": 500}}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    outputs = {}
    for cmd in ("train", "train-outcomes"):
        res = runner.invoke(app, [cmd, "-c", str(path)])
        assert res.exit_code == 0, f"churnml {cmd} failed:\n{res.output}"
        outputs[cmd] = res.output
    settings = load_settings(path)
    return ForecastWorld(path, settings, data, observed_until(load_data(settings).tables), outputs)
