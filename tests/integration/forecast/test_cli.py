"""`churnml forecast` end to end on a small world: train, train-outcomes, forecast by segment; the forecast is
printed with its ranges, saved as the latest one (what /v1/forecast, the portfolio page and the weekly summary
read), the per-account expectations written, the forecast's backtest stored for the KPI report."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.cli.app import app
from churnml.forecast.params import backtest_path, params_path
from churnml.forecast.store import read_forecast, read_forecast_accounts
from tests.support.forecast_world import ForecastWorld, build_forecast_world

pytestmark = pytest.mark.slow  # one small world trained through the CLI: about three minutes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ForecastWorld:
    mp = pytest.MonkeyPatch()
    try:
        yield build_forecast_world(tmp_path_factory.mktemp("forecast"), mp)
    finally:
        mp.undo()


def test_train_outcomes_writes_params_and_backtest(world: ForecastWorld) -> None:
    assert "contracted: backtest ROC-AUC" in world.outputs["train-outcomes"]
    assert params_path(world.settings.work_dir).exists()
    bt = pd.read_parquet(backtest_path(world.settings.work_dir))
    assert {"as_of", "group", "metric", "forecast", "lo80", "hi80", "realised", "naive_last"} <= set(bt.columns)
    assert set(bt["metric"]) == {"grr", "nrr"} and "all" in set(bt["group"])
    assert (bt["lo80"] <= bt["forecast"]).all() and (bt["forecast"] <= bt["hi80"]).all()


def test_forecast_command_by_segment(world: ForecastWorld, tmp_path) -> None:
    out = tmp_path / "accounts.csv"
    res = CliRunner().invoke(app, ["forecast", "--as-of", str(world.as_of), "--by", "segment", "--out", str(out),
                                   "-c", str(world.config)])
    assert res.exit_code == 0, res.output
    assert "GRR" in res.output and "NRR" in res.output and "ROC-AUC" in res.output
    doc = read_forecast(world.settings.work_dir)
    assert doc is not None and doc["as_of"] == str(world.as_of) and doc["by"] == "segment"
    groups = {g["group"]: g for g in doc["groups"]}
    assert set(groups) == {"all", "SMB", "Mid-Market", "Enterprise"}
    whole = groups["all"]
    assert whole["grr_lo95"] <= whole["grr_lo80"] <= whole["grr"] <= whole["grr_hi80"] <= whole["grr_hi95"]
    assert 0 < whole["grr"] <= 1 and whole["nrr"] > 0
    assert whole["accounts"] == sum(groups[s]["accounts"] for s in ("SMB", "Mid-Market", "Enterprise"))
    accounts = pd.read_csv(out)
    assert len(accounts) == whole["accounts"] and accounts["expected_mrr_horizon"].ge(0).all()
    stored = read_forecast_accounts(world.settings.work_dir)
    assert stored is not None and len(stored) == len(accounts)
    assert 0.5 < doc["health"][0]["expected_auc"] < 1


def test_forecast_command_refuses_a_bad_grouping(world: ForecastWorld) -> None:
    res = CliRunner().invoke(app, ["forecast", "--as-of", str(world.as_of), "--by", "region",
                                   "-c", str(world.config)])
    assert res.exit_code == 1 and "--by must be one of" in res.output


def test_kpi_report_shows_the_forecast_against_realised(world: ForecastWorld, tmp_path) -> None:
    made = CliRunner().invoke(app, ["forecast", "--as-of", str(world.as_of), "--by", "segment",
                                    "-c", str(world.config)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", "--out", str(out), "-c", str(world.config)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Forecast: GRR and NRR, forecast against realised" in text
    assert 'alt="forecast GRR and NRR against realised, by segment" src="data:image/svg+xml;base64,' in text
    assert "inside 80% range" in text and "error: last period" in text
    assert "No forecast backtest" not in text
    # the forecast made this week (just above, at the end of the data) leads the section
    assert f"The next 60 days after {world.as_of}" in text and "GRR ranges" in text


def test_weekly_job_summary_has_the_forecast_and_health(world: ForecastWorld) -> None:
    from churnml.config import ForecastConfig
    from churnml.jobs.weekly import run_weekly

    settings = world.settings.model_copy(update={"forecast": ForecastConfig(draws=500, auc_floor=0.99)})
    r = run_weekly(settings, push=False, force=True)
    assert r.status == "succeeded" and r.forecast is not None and r.health is not None
    text = r.summary_path.read_text()
    assert "## Revenue retention forecast" in text and "| all |" in text and "80%:" in text
    assert "**HEALTH ALARM**: estimated ROC-AUC" in text and "below the floor 0.990" in text
    assert "promotion is not blocked by it" in text
    doc = read_forecast(world.settings.work_dir)
    assert doc is not None and doc["as_of"] == str(r.as_of) and doc["by"] == "segment"
