"""Tracking: where runs go, metric names, lineage, and the one pyfunc model scoring like the ChurnModel."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnml.lifecycle.run_record import (
    backtest_key,
    backtest_metrics,
    child_metrics,
    flatten_params,
    lineage_summary,
    metric_name,
)
from churnml.lifecycle.tracking import ENV_TRACKING_URI, tracking_uri
from churnml.model.model import ChurnModel
from churnml.model.pyfunc import (
    BASE_VALUE,
    CONTRIB_PREFIX,
    EXPLAIN_COLUMN,
    PROBABILITY,
    RAW_SCORE,
    pyfunc_input,
    score_frame,
)
from tests.support.model_frames import make_frame

FAST = {"n_estimators": 30, "learning_rate": 0.15, "num_leaves": 7, "min_child_samples": 20}


# --------------------------------------------------------------------------- helpers shared with other test files


def small_frame(seed: int = 3) -> pd.DataFrame:
    """A small labelled synthetic training frame."""
    df = make_frame(n_accounts=120, n_weeks=16, seed=seed)
    return df[df["churned"].notna()].reset_index(drop=True)


def fit_small_model(seed: int = 3) -> tuple[ChurnModel, pd.DataFrame]:
    """A real (tiny) calibrated ChurnModel and the frame it was fitted on."""
    df = small_frame(seed)
    dates = np.sort(df["as_of"].unique())
    train, calib = df[df["as_of"] <= dates[-4]], df[df["as_of"] > dates[-4]]
    model = ChurnModel(**FAST, calibration="sigmoid").fit(
        train, train["churned"], X_calib=calib, y_calib=calib["churned"]
    )
    return model, df


# --------------------------------------------------------------------------- pure helpers


def test_tracking_uri_defaults_to_sqlite_in_work_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    uri = tracking_uri(tmp_path / "work")
    assert uri == f"sqlite:///{(tmp_path / 'work' / 'mlflow.db').resolve()}"
    assert uri.startswith("sqlite:////")  # absolute path: independent of the current directory


def test_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_TRACKING_URI, "http://mlflow.internal:5000")
    assert tracking_uri(tmp_path) == "http://mlflow.internal:5000"


def test_nothing_happens_at_import(tmp_path: Path) -> None:
    code = (
        "import mlflow; before = mlflow.get_tracking_uri();"
        "import churnml.lifecycle.tracking, churnml.lifecycle.registry, churnml.model.pyfunc, churnml.cli.models;"
        "print(before == mlflow.get_tracking_uri())"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_TRACKING_URI}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "True"  # MLflow's own default URI, untouched
    assert list(tmp_path.iterdir()) == []  # no folders or databases created on import


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_backtest_metric_names() -> None:
    overall = _table([
        {"model": "lightgbm", "n": 100.0, "roc_auc": 0.8, "churned_mrr_share_top10": 0.4},
        {"model": "logistic", "n": 100.0, "roc_auc": 0.7, "churned_mrr_share_top10": 0.3},
        {"model": "oracle", "n": 100.0, "roc_auc": 0.9, "churned_mrr_share_top10": math.nan},
    ])
    per_fold = _table([
        {"model": "lightgbm", "fold": 1, "roc_auc": 0.79},
        {"model": "lightgbm", "fold": 2, "roc_auc": 0.81},
        {"model": "logistic", "fold": 2, "roc_auc": 0.6},
    ])
    per_segment = _table([{"model": "lightgbm", "segment": "Mid Market", "roc_auc": 0.75}])
    m = backtest_metrics(overall, per_fold, per_segment)
    assert m["roc_auc"] == 0.8 and m["churned_mrr_share_top10"] == 0.4
    assert m["baseline/logistic/roc_auc"] == 0.7
    assert m["oracle/roc_auc"] == 0.9
    assert "oracle/churned_mrr_share_top10" not in m  # NaN left out
    assert m["backtest/fold_1/roc_auc"] == 0.79 and m["backtest/fold_2/roc_auc"] == 0.81
    assert m["backtest/segment_Mid Market/roc_auc"] == 0.75
    assert 0.6 not in m.values()  # the baselines' folds are on their child runs, not the main run
    assert "fold" not in m and "model" not in m
    children = child_metrics(overall, per_fold, per_segment)
    assert set(children) == {"logistic", "oracle"}  # one child run each, with the main model's names
    assert children["logistic"] == {"n": 100.0, "roc_auc": 0.7, "churned_mrr_share_top10": 0.3,
                                    "backtest/fold_2/roc_auc": 0.6}
    assert children["oracle"] == {"n": 100.0, "roc_auc": 0.9}


def test_backtest_metrics_refuses_ambiguous_tables() -> None:
    dup = _table([{"model": "lightgbm", "fold": 1, "roc_auc": 0.7}, {"model": "lightgbm", "fold": 1, "roc_auc": 0.8}])
    with pytest.raises(ValueError, match="backtest/fold_1/roc_auc"):
        backtest_metrics(None, dup)
    with pytest.raises(ValueError, match="lacks column"):
        backtest_metrics(_table([{"roc_auc": 0.7}]))


def test_metric_name_is_mlflow_safe() -> None:
    assert metric_name("segment", "Retail & Co", "roc_auc") == "segment_Retail _ Co_roc_auc"


def test_lineage_and_params_flatten() -> None:
    lineage = {"rows": 10, "as_of_min": "2024-01-01", "as_of_max": "2024-03-01", "frame_sha256": "ab" * 32,
               "source": "work/data", "features": ["a", "b"]}
    s = lineage_summary(lineage)
    assert s == {"source": "work/data", "digest": "ab" * 32, "rows": 10, "as_of_min": "2024-01-01",
                 "as_of_max": "2024-03-01"}
    assert lineage_summary({"as_of_range": ["2024-01-01", "2024-02-01"]})["as_of_max"] == "2024-02-01"
    assert flatten_params({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": "1", "a.c": "[1, 2]", "d": "None"}


def test_backtest_key_changes_with_data_or_folds() -> None:
    folds = [{"index": 0, "eval_start": "2024-05-01"}]
    assert backtest_key(folds, "x") == backtest_key(list(folds), "x")
    assert backtest_key(folds, "x") != backtest_key(folds, "y")
    assert backtest_key(folds, "x") != backtest_key([{"index": 0, "eval_start": "2024-05-08"}], "x")


# --------------------------------------------------------------------------- model packaging (no store)


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnModel, pd.DataFrame]:
    return fit_small_model()


def test_pyfunc_input_takes_features_by_name(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, df = fitted
    shuffled = df[list(reversed(df.columns))].head(4)
    x = pyfunc_input(model, shuffled)
    assert list(x.columns) == model.feature_names_
    for c in model.categorical_features_:
        assert x[c].dtype == object and all(isinstance(v, str) or v is None for v in x[c])
    with pytest.raises(KeyError, match="segment"):
        pyfunc_input(model, df.drop(columns=["segment"]))


def test_explanations_add_up(fitted: tuple[ChurnModel, pd.DataFrame]) -> None:
    model, df = fitted
    out = score_frame(model, df.head(50), explain=True)
    contrib = [c for c in out.columns if c.startswith(CONTRIB_PREFIX)]
    assert contrib == [f"{CONTRIB_PREFIX}{f}" for f in model.feature_names_]
    np.testing.assert_allclose(out[contrib].sum(axis=1) + out[BASE_VALUE], out[RAW_SCORE], atol=1e-8)
    np.testing.assert_allclose(out[PROBABILITY], model.predict_proba(df.head(50))[:, 1])


# --------------------------------------------------------------------------- a logged run (embedded store)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train (tiny), log the TrainingResult into a fresh embedded store, from an otherwise empty cwd."""
    from churnml.lifecycle.run_log import log_training
    from churnml.lifecycle.tracking import configure
    from churnml.training.train import train

    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    cwd = tmp_path_factory.mktemp("cwd")
    mp.chdir(cwd)
    try:
        work = tmp_path_factory.mktemp("work")
        frame = make_frame(n_accounts=150, n_weeks=30, seed=5)
        started = time.time()
        result = train(frame, {"horizon_days": 28, "n_folds": 2, "eval_days": 14, "valid_days": 14,
                               "calib_days": 14, "model": FAST, "shap_rows": 200})
        train_s = time.time() - started
        client = configure(work)
        run = log_training(client, result, frame.head(20), source="tests/support/model_frames.py", run_name="test",
                           started_at=started)
        yield {"work": work, "cwd": cwd, "client": client, "run": run, "result": result, "frame": frame,
               "started": started, "train_s": train_s}
    finally:
        mp.undo()


def test_embedded_store_lives_in_work_dir(logged: dict[str, Any]) -> None:
    work, cwd = logged["work"], logged["cwd"]
    assert (work / "mlflow.db").is_file()
    assert any((work / "mlartifacts").rglob("MLmodel"))
    assert list(cwd.iterdir()) == []  # nothing written relative to the current directory (no ./mlruns)


def test_run_records_params_metrics_lineage(logged: dict[str, Any]) -> None:
    client, result = logged["client"], logged["result"]
    run = client.get_run(logged["run"].run_id)
    m, p, t = run.data.metrics, run.data.params, run.data.tags
    overall = result.metrics["overall"].set_index("model")
    assert m["roc_auc"] == pytest.approx(overall.loc["lightgbm", "roc_auc"])
    assert m["baseline/logistic/roc_auc"] == pytest.approx(overall.loc["logistic", "roc_auc"])
    folds = sorted(result.metrics["per_fold"]["fold"].unique())
    assert all(f"backtest/fold_{k}/roc_auc" in m for k in folds)
    assert "churned_mrr_share_top10" in m
    assert p["model.n_estimators"] == "30"
    assert p["data.rows"] == str(result.lineage["rows"])
    assert t["data.digest"] == result.lineage["frame_sha256"]
    assert t["data.as_of_min"] == result.lineage["as_of_min"]
    assert t["churnml.backtest_key"]
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.digest == result.lineage["frame_sha256"][:36]
    assert json.loads(ds.dataset.profile)["rows"] == result.lineage["rows"]
    assert {t.key: t.value for t in ds.tags}["mlflow.data.context"] == "training"


def test_baselines_are_child_runs_and_the_run_lasts_as_long_as_training(logged: dict[str, Any]) -> None:
    client, run_id, result = logged["client"], logged["run"].run_id, logged["result"]
    info = client.get_run(run_id).info
    children = client.search_runs([info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    overall = result.metrics["overall"].set_index("model")
    assert sorted(c.info.run_name for c in children) == sorted(set(overall.index) - {"lightgbm"})
    per_fold = result.metrics["per_fold"]
    for child in children:
        name, m = child.info.run_name, child.data.metrics
        assert child.info.status == "FINISHED" and child.data.tags["churnml.model"] == name
        assert child.data.tags["churnml.role"] == ("oracle" if name == "oracle" else "baseline")
        assert m["roc_auc"] == pytest.approx(overall.loc[name, "roc_auc"])  # the main run's names: compare view
        folds = per_fold[(per_fold["model"] == name) & per_fold["roc_auc"].notna()]["fold"]
        assert {f"backtest/fold_{k}/roc_auc" for k in folds} <= set(m)
    assert info.start_time == int(logged["started"] * 1000)  # the run began when training did
    assert (info.end_time - info.start_time) / 1000 >= logged["train_s"]


def test_run_artifacts(logged: dict[str, Any]) -> None:
    client, run_id = logged["client"], logged["run"].run_id
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"backtest", "plots", "lineage.json", "training_result.json"} <= top
    backtest = {a.path for a in client.list_artifacts(run_id, "backtest")}
    assert {"backtest/overall.csv", "backtest/overall.json", "backtest/per_fold.csv", "backtest/folds.json"} <= backtest
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {f"plots/{name}.png" for name in logged["result"].figures} == plots


def test_one_model_with_signature_and_example(logged: dict[str, Any]) -> None:
    from mlflow.models import get_model_info

    run = logged["run"]
    info = get_model_info(run.model_uri)
    model = logged["result"].model
    assert info.signature is not None
    assert info.signature.inputs.input_names() == [*model.feature_names_, EXPLAIN_COLUMN]
    assert all(c.required for c in info.signature.inputs.inputs if c.name != EXPLAIN_COLUMN)
    assert [s.name for s in info.signature.outputs.inputs] == [PROBABILITY, RAW_SCORE]
    assert info.signature.params is not None and info.signature.params.params[0].name == "explain"
    assert info.saved_input_example_info is not None
    assert info.metadata["feature_names"] == model.feature_names_
    assert info.metadata["categorical_features"] == model.categorical_features_
    assert info.metadata["calibration"] == model.calibrator_.method_
    models = logged["client"].search_logged_models(experiment_ids=[run.experiment_id])
    assert [m.model_id for m in models] == [run.model_id]


def test_pyfunc_scores_exactly_like_the_model(logged: dict[str, Any]) -> None:
    import mlflow

    model, frame = logged["result"].model, logged["frame"].iloc[100:160]
    loaded = mlflow.pyfunc.load_model(logged["run"].run_model_uri)
    x = pyfunc_input(model, frame).assign(account_id=frame["account_id"])  # extra columns are ignored
    out = loaded.predict(x)
    assert list(out.columns) == [PROBABILITY, RAW_SCORE]
    assert out.index.equals(frame.index)
    np.testing.assert_array_equal(out[PROBABILITY].to_numpy(), model.predict_proba(frame)[:, 1])
    np.testing.assert_array_equal(out[RAW_SCORE].to_numpy(), model.predict_raw(frame))

    explained = loaded.predict(pyfunc_input(model, frame), params={"explain": True})
    expected = model.contributions(frame)
    np.testing.assert_array_equal(explained[BASE_VALUE].to_numpy(), expected["_base_value"].to_numpy())
    for f in model.feature_names_:
        np.testing.assert_array_equal(explained[f"{CONTRIB_PREFIX}{f}"].to_numpy(), expected[f].to_numpy())
    by_column = loaded.predict(pyfunc_input(model, frame).assign(**{EXPLAIN_COLUMN: True}))
    assert BASE_VALUE in by_column.columns and EXPLAIN_COLUMN not in by_column.columns


def test_load_churn_model_unwraps(logged: dict[str, Any]) -> None:
    from churnml.model.pyfunc import load_churn_model

    model, frame = logged["result"].model, logged["frame"]
    unwrapped = load_churn_model(logged["run"].model_uri)
    assert isinstance(unwrapped, ChurnModel)
    assert unwrapped.feature_names_ == model.feature_names_
    np.testing.assert_array_equal(unwrapped.predict_proba(frame), model.predict_proba(frame))


def test_loads_in_a_fresh_interpreter(logged: dict[str, Any], tmp_path: Path) -> None:
    """No training-time globals needed: a clean process loads the model by URI and scores the same."""
    model, frame = logged["result"].model, logged["frame"].head(30)
    frame.to_parquet(tmp_path / "x.parquet")
    code = (
        "import sys, numpy as np, pandas as pd, mlflow; from churnml.model.pyfunc import load_churn_model;"
        f"mlflow.set_tracking_uri({logged['client'].tracking_uri!r});"
        f"m = load_churn_model({logged['run'].model_uri!r});"
        "x = pd.read_parquet(sys.argv[1]); np.save(sys.argv[2], m.predict_proba(x)[:, 1])"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_TRACKING_URI}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "x.parquet"), str(tmp_path / "p.npy")],
        check=True, cwd=tmp_path, env=env, capture_output=True, timeout=120,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict_proba(frame)[:, 1])
