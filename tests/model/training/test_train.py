"""train(): layout, backtest vs baselines and oracle with intervals, final model, report; oracle by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from churnml.model.model import ChurnModel
from churnml.simulate.oracle import oracle_auc, oracle_probability, read_truth
from churnml.training.train import TrainConfig, TrainingResult, fit_final, frame_digest, train
from tests.support.model_frames import make_frame

FAST_MODEL = {"num_threads": 1, "n_estimators": 150, "learning_rate": 0.1, "min_child_samples": 50,
              "early_stopping_rounds": 30}
LAYOUT = {"horizon_days": 28, "n_folds": 2, "eval_days": 21, "valid_days": 21, "calib_days": 21}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(n_accounts=500, n_weeks=36, horizon_days=28, seed=11)


def hazard_truth(accounts: np.ndarray, p: np.ndarray, months: pd.DatetimeIndex) -> pd.DataFrame:
    """A hazard table shaped like the simulator's: one spell per account from 2023, uniform churn days."""
    out = pd.DataFrame(
        {
            "account_id": np.repeat(accounts, len(months)),
            "spell_start": pd.Timestamp("2023-01-01"),
            "month": np.tile(months, len(accounts)),
            "p_churn": p,
        }
    )
    out["lo"] = out["month"]
    out["hi"] = out["month"] + pd.offsets.MonthEnd(0)
    out["churn_day"] = pd.NaT
    out.attrs.update(quick_reactivation_share=0.0, winback_share=0.0)
    return out


@pytest.fixture(scope="module")
def truth(frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    months = pd.date_range("2024-01-01", "2025-01-01", freq="MS")
    accounts = frame["account_id"].unique()
    return hazard_truth(accounts, rng.uniform(0, 0.2, len(accounts) * len(months)), months)


@pytest.fixture(scope="module")
def result(frame: pd.DataFrame, truth: pd.DataFrame) -> TrainingResult:
    return train(frame, {**LAYOUT, "model": FAST_MODEL, "shap_rows": 300}, truth=truth)


def test_lightgbm_beats_the_linear_baselines_beyond_noise_on_nonlinear_signal(result: TrainingResult) -> None:
    overall = result.metrics["overall"].set_index("model")
    assert set(overall.index) == {"lightgbm", "recency", "rfm", "logistic", "health_score", "oracle"}
    # The difference's interval (paired bootstrap by account) lies above zero, and the words say so.
    assert overall.loc["logistic", "roc_auc_diff_lo"] > 0
    assert any(v.startswith("lightgbm beats logistic by") for v in result.verdicts("roc_auc"))
    for model in overall.index:
        assert overall.loc[model, "roc_auc_lo"] <= overall.loc[model, "roc_auc"] <= overall.loc[model, "roc_auc_hi"]


def test_layout_is_chosen_and_reported(result: TrainingResult) -> None:
    assert result.layout is not None and result.layout.chosen.n_folds == 2
    assert result.lineage["layout"] == result.layout.reason
    assert json.loads(result.to_json())["layout"]["gap_days"] == 28


def test_final_model_and_metric_tables(result: TrainingResult, frame: pd.DataFrame) -> None:
    assert isinstance(result.model, ChurnModel)
    p = result.model.predict_proba(frame.head(10))
    assert p.shape == (10, 2)
    assert set(result.metrics) == {"overall", "comparisons", "per_fold", "per_segment"}
    assert len(result.metrics["per_fold"]) == 6 * 2
    assert {"SMB", "Enterprise"} <= set(result.metrics["per_segment"]["segment"])
    # The final fit learns from the latest labelled dates (calibration window ends there).
    labelled_max = frame.loc[frame["churned"].notna(), "as_of"].max()
    assert result.lineage["final_layout"]["calib_end"] == labelled_max.date().isoformat()


def test_fit_final_is_the_model_train_ships(result: TrainingResult, frame: pd.DataFrame) -> None:
    """`fit_final` (the outside-data benchmark's model) is `train`'s final model without the backtest."""
    model, layout, labelled = fit_final(frame, {**LAYOUT, "model": FAST_MODEL, "shap_rows": 300})
    assert layout.final.as_dict() == result.lineage["final_layout"]
    assert len(labelled) == frame["churned"].notna().sum() and model.feature_names_ == result.model.feature_names_
    np.testing.assert_allclose(model.predict_proba(frame)[:, 1], result.model.predict_proba(frame)[:, 1])


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
    assert {r["model"] for r in doc["baselines"]} == {"recency", "rfm", "logistic", "health_score"}
    assert {"roc_auc_lo", "roc_auc_hi", "roc_auc_diff_lo"} <= set(doc["baselines"][0])
    assert doc["intervals"]["n_boot"] == 200 and doc["verdicts"]
    assert doc["oracle"][0]["model"] == "oracle"
    assert all(r["model"] != "oracle" for r in doc["overall"])
    assert "NaN" not in result.to_json()


def test_figures(result: TrainingResult) -> None:
    assert set(result.figures) == {"roc", "pr", "calibration", "lift", "feature_importance", "shap_summary"}
    assert all(isinstance(f, Figure) for f in result.figures.values())


def test_tuning_runs_on_its_own_windows(frame: pd.DataFrame) -> None:
    cfg = TrainConfig(**{**LAYOUT, "n_folds": 1}, model={**FAST_MODEL, "n_estimators": 30}, tune=2, baselines=[],
                      figures=False)
    res = train(frame, cfg)
    assert res.tuning is not None and res.tuning.skipped is None
    assert {"num_leaves", "min_child_samples", "learning_rate"} <= set(res.params)
    first_eval = min(f.eval_start for f in res.backtest.folds)
    assert all(f.eval_end + pd.Timedelta(days=28) <= first_eval for f in res.tuning.folds)
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
    months = pd.date_range("2024-01-01", "2024-03-01", freq="MS")
    truth = hazard_truth(np.array(["A"]), np.array([0.1, 0.2, 0.5]), months)
    keys = pd.DataFrame(
        {"account_id": ["A", "A", "B"], "as_of": pd.to_datetime(["2024-01-20", "2024-02-01", "2024-01-20"])}
    )
    p = oracle_probability(keys, truth, 20)
    # [Jan 20, Feb 9): still a customer on Jan 20, so January's remaining 12 of 31 days given no churn in the
    # first 19; then 8 of February's 29 days. [Feb 1, Feb 21): 20 of 29 days. B has no spell: 0.
    jan = 0.1 * 12 / 31 / (1 - 0.1 * 19 / 31)
    np.testing.assert_allclose(p, [1 - (1 - jan) * (1 - 0.2 * 8 / 29), 0.2 * 20 / 29, 0.0])
    assert oracle_auc(np.array([0, 1, 0]), p) == 1.0


def test_oracle_renewal_day_and_bridged_churns() -> None:
    months = pd.date_range("2024-01-01", "2024-02-01", freq="MS")
    truth = hazard_truth(np.array(["A"]), np.array([0.3, 0.0]), months)
    truth.loc[0, "churn_day"] = pd.Timestamp("2024-01-25")  # annual renewal: churn falls on the term end
    keys = pd.DataFrame({"account_id": ["A", "A"], "as_of": pd.to_datetime(["2024-01-10", "2024-01-26"])})
    np.testing.assert_allclose(oracle_probability(keys, truth, 30), [0.3, 0.0])
    truth.attrs.update(quick_reactivation_share=0.5)  # half the churns come back within the grace period
    np.testing.assert_allclose(oracle_probability(keys, truth, 30, grace_days=14), [0.15, 0.0])


def test_read_truth_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="only for simulated"):
        read_truth(tmp_path)
