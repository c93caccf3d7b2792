"""train(): backtest vs baselines and oracle, final model, report; oracle probabilities by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from churnml.model.model import ChurnModel
from churnml.simulate.oracle import oracle_auc, oracle_probability, read_truth
from churnml.training.train import TrainConfig, TrainingResult, frame_digest, train
from tests.support.model_frames import make_frame

FAST_MODEL = {"num_threads": 1, "n_estimators": 150, "learning_rate": 0.1, "min_child_samples": 50,
              "early_stopping_rounds": 30}
LAYOUT = {"horizon_days": 28, "n_folds": 2, "eval_days": 21, "valid_days": 21, "calib_days": 21}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(n_accounts=500, n_weeks=36, horizon_days=28, seed=11)


@pytest.fixture(scope="module")
def truth(frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    months = pd.date_range("2024-01-01", "2025-01-01", freq="MS")
    accounts = frame["account_id"].unique()
    return pd.DataFrame(
        {
            "account_id": np.repeat(accounts, len(months)),
            "month": np.tile(months, len(accounts)),
            "p_churn": rng.uniform(0, 0.2, len(accounts) * len(months)),
        }
    )


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame, truth: pd.DataFrame) -> TrainingResult:
    return train(frame, {**LAYOUT, "model": FAST_MODEL, "shap_rows": 300}, truth=truth)


def test_lightgbm_beats_both_baselines_on_nonlinear_signal(result: TrainingResult) -> None:
    auc = result.metrics["overall"].set_index("model")["roc_auc"]
    assert auc["lightgbm"] > auc["logistic"] + 0.02
    assert auc["lightgbm"] > auc["health_score"] + 0.02
    assert set(auc.index) == {"lightgbm", "logistic", "health_score", "oracle"}


def test_final_model_and_metric_tables(result: TrainingResult, frame: pd.DataFrame) -> None:
    assert isinstance(result.model, ChurnModel)
    p = result.model.predict_proba(frame.head(10))
    assert p.shape == (10, 2)
    assert set(result.metrics) == {"overall", "per_fold", "per_segment"}
    assert len(result.metrics["per_fold"]) == 4 * 2
    assert {"SMB", "Enterprise"} <= set(result.metrics["per_segment"]["segment"])
    # The final fit learns from the latest labelled dates (calibration window ends there).
    labelled_max = frame.loc[frame["churned"].notna(), "as_of"].max()
    assert result.lineage["final_layout"]["calib_end"] == labelled_max.date().isoformat()


def test_oracle_rows_match_truth(result: TrainingResult, frame: pd.DataFrame, truth: pd.DataFrame) -> None:
    pred = result.backtest.predictions
    oracle = pred[pred["model"] == "oracle"].merge(frame[["account_id", "as_of"]], on=["account_id", "as_of"])
    expected = oracle_probability(oracle, truth, 28)
    np.testing.assert_allclose(oracle["p"], expected)
    lgbm = pred[pred["model"] == "lightgbm"]
    assert len(lgbm) == len(pred[pred["model"] == "oracle"])


def test_lineage(result: TrainingResult, frame: pd.DataFrame) -> None:
    lin = result.lineage
    assert lin["rows"] == len(frame)
    assert lin["labelled_rows"] == int(frame["churned"].notna().sum())
    assert lin["as_of_min"] == "2024-01-01"
    assert lin["frame_sha256"] == frame_digest(frame)
    changed = frame.copy()
    changed.loc[0, "mrr"] += 1
    assert frame_digest(changed) != lin["frame_sha256"]


def test_report_json(result: TrainingResult) -> None:
    doc = json.loads(result.to_json())
    assert {"lineage", "folds", "final_model", "overall", "baselines", "oracle", "per_fold", "per_segment"} <= set(doc)
    assert {r["model"] for r in doc["baselines"]} == {"logistic", "health_score"}
    assert doc["oracle"][0]["model"] == "oracle"
    assert all(r["model"] != "oracle" for r in doc["overall"])
    assert "NaN" not in result.to_json()


def test_figures(result: TrainingResult) -> None:
    assert set(result.figures) == {"roc", "pr", "calibration", "lift", "feature_importance", "shap_summary"}
    assert all(isinstance(f, Figure) for f in result.figures.values())


def test_tuning_runs_on_validation_windows(frame: pd.DataFrame) -> None:
    cfg = TrainConfig(**LAYOUT, model={**FAST_MODEL, "n_estimators": 30}, tune=2, baselines=[], figures=False)
    res = train(frame, cfg)
    assert {"num_leaves", "min_child_samples", "learning_rate"} <= set(res.params)
    assert set(res.metrics["overall"]["model"]) == {"lightgbm"}


def test_extra_models_share_the_folds(frame: pd.DataFrame) -> None:
    cfg = {**LAYOUT, "baselines": [], "figures": False, "model": FAST_MODEL}
    res = train(frame, cfg, extra_models={"champion": lambda: ChurnModel(**{**FAST_MODEL, "num_leaves": 4})})
    pred = res.backtest.predictions
    assert set(pred["model"]) == {"lightgbm", "champion"}
    keys = ["fold", "account_id", "as_of"]
    lgbm, champ = pred[pred["model"] == "lightgbm"][keys], pred[pred["model"] == "champion"][keys]
    pd.testing.assert_frame_equal(lgbm.reset_index(drop=True), champ.reset_index(drop=True))
    assert json.loads(res.to_json())["others"][0]["model"] == "champion"


def test_unknown_baseline_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown baselines"):
        train(frame, {**LAYOUT, "baselines": ["xgboost"], "figures": False})


# ----------------------------------------------------------------------------------------------- oracle


def test_oracle_probability_by_hand() -> None:
    truth = pd.DataFrame(
        {
            "account_id": ["A", "A", "A"],
            "month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            "p_churn": [0.1, 0.2, 0.5],
        }
    )
    keys = pd.DataFrame(
        {"account_id": ["A", "A", "B"], "as_of": pd.to_datetime(["2024-01-20", "2024-02-01", "2024-01-20"])}
    )
    p = oracle_probability(keys, truth, 20)
    # [Jan 20, Feb 9) overlaps January and February; [Feb 1, Feb 21) only February; B is not a customer.
    np.testing.assert_allclose(p, [1 - 0.9 * 0.8, 0.2, 0.0])
    prorated = oracle_probability(keys, truth, 20, method="prorate")
    np.testing.assert_allclose(prorated[0], 1 - (1 - 0.1 * 12 / 31) * (1 - 0.2 * 8 / 29))
    np.testing.assert_allclose(prorated[1], 0.2 * 20 / 29)
    assert oracle_auc(np.array([1, 0, 0]), p) == 1.0


def test_read_truth_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="only for simulated"):
        read_truth(tmp_path)
    (tmp_path / "truth").mkdir()
    pd.DataFrame(
        {"account_id": ["A"], "month": [pd.Timestamp("2024-01-01").date()], "p_churn": [0.1], "health": [0.0]}
    ).to_parquet(tmp_path / "truth" / "monthly_churn_probability.parquet")
    t = read_truth(tmp_path)
    assert list(t.columns) == ["account_id", "month", "p_churn"]
    assert t["month"].dtype == "datetime64[ns]"
