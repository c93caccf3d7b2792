"""Tabular snapshots: imported through a mapping, checked like contract tables, trained and evaluated through the
product (stratified folds, LightGBM vs logistic), logged to MLflow and registered under their own name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.cli.app import app
from churnml.data.validate import DataValidationError
from churnml.importer import Mapping, import_data
from churnml.lifecycle.registry import ModelRegistry
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from churnml.model.pyfunc import load_churn_model
from churnml.training.tabular import SnapshotConfig, inner_parts, load_snapshot, outer_splits, train_snapshot

ROOT = Path(__file__).resolve().parents[3]
TELCO = ROOT.parent / "shared" / "data" / "real" / "telco_ibm" / "Telco-Customer-Churn.csv"
FAST = {"n_estimators": 300, "learning_rate": 0.08}  # keeps the tests quick; the benchmark uses the defaults


def _synthetic(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A CRM-style snapshot whose churn depends on tenure, plan and tickets (known signal, so AUC must be high)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 60, n)
    plan = rng.choice(["Basic", "Pro", "Enterprise"], n)
    tickets = rng.poisson(2, n)
    logit = -0.5 - 0.06 * tenure + 0.5 * tickets + np.where(plan == "Basic", 1.0, 0.0)
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "Customer": [f"C{i:05d}" for i in range(n)], "Tenure": tenure, "Plan": plan, "Tickets": tickets,
        "Region": rng.choice(["EU", "US"], n), "Cancelled": np.where(churn, "Yes", "No"),
        "CancelReason": np.where(churn, "price", ""),  # written after the outcome: leaks
    })


MAPPING = Mapping.model_validate({
    "shape": "snapshot",
    "snapshot": {
        "source": "customers",
        "columns": {"account_id": "Customer", "churned": {"column": "Cancelled", "map": {"Yes": True, "No": False}}},
        "keep": "*",
        "drop": ["CancelReason"],
    },
})


def test_folds_are_stratified_disjoint_and_cover_every_row() -> None:
    frame = _synthetic().rename(columns={"Customer": "account_id"})
    frame["churned"] = frame.pop("Cancelled") == "Yes"
    rate = frame["churned"].mean()
    splits = outer_splits(frame, SnapshotConfig(folds=4))
    seen = np.concatenate([test for _, test in splits])
    assert sorted(seen) == list(range(len(frame)))
    for train, test in splits:
        assert not set(train) & set(test)
        assert abs(frame["churned"].iloc[test].mean() - rate) < 0.03
        parts = inner_parts(frame.iloc[train], SnapshotConfig())
        assert sum(len(p) for p in parts.values()) == len(train)
        assert not set(parts["valid"].index) & set(parts["train"].index)
    (train, test), = outer_splits(frame, SnapshotConfig(evaluation="holdout", test_size=0.25))
    assert len(test) == 150 and len(train) == 450
    with pytest.raises(ValueError, match="split column"):
        outer_splits(frame, SnapshotConfig(evaluation="split"))


def test_synthetic_snapshot_imports_trains_registers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "crm"
    src.mkdir()
    _synthetic().to_csv(src / "customers.csv", index=False)
    report = import_data(src, MAPPING, tmp_path / "snap")
    table = report.tables["snapshot"]
    assert table.rows_written == 600 and table.dropped == ["CancelReason"]
    assert sorted(table.kept) == ["Plan", "Region", "Tenure", "Tickets"]
    frame = load_snapshot(tmp_path / "snap")
    assert "CancelReason" not in frame.columns and frame["Tenure"].dtype == "float64"

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    monkeypatch.setenv("CHURNML_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("CHURNML_REGISTRY__NAME", "crm")
    res = CliRunner().invoke(app, ["train-snapshot", "--data", str(tmp_path / "snap"), "--folds", "3",
                                   "--exclude", "Region"])
    assert res.exit_code == 0, res.output
    assert "promoted to champion" in res.output and "crm-snapshot v1" in res.output
    registry = ModelRegistry.from_work_dir(tmp_path / "work", name="crm-snapshot")
    assert registry.aliases() == {"champion": 1}
    model = load_churn_model(registry.model_uri("champion"))
    assert sorted(model.feature_names_) == ["Plan", "Tenure", "Tickets"]
    p = model.predict_proba(frame)[:, 1]
    from churnml.training.metrics import roc_auc

    assert roc_auc(frame["churned"].astype(int), p) > 0.75  # in-sample sanity; the CV figure is checked below
    cv = float(res.output.split("lightgbm")[1].split()[1].strip("│"))
    assert cv > 0.7

    # score the customers still with us, through the same score table as event-log scoring
    res = CliRunner().invoke(app, ["score-snapshot", "--data", str(tmp_path / "snap"), "--as-of", "2025-03-03"])
    assert res.exit_code == 0, res.output
    from churnml.scoring.store import ScoreStore

    stored = ScoreStore.from_work_dir(tmp_path / "work").read()
    customers = frame[~frame["churned"]].set_index("account_id")
    assert sorted(stored["account_id"]) == sorted(customers.index)
    assert (stored["model_name"] == "crm-snapshot").all() and (stored["model_version"] == "1").all()
    expected = model.predict_proba(customers.loc[stored["account_id"]])[:, 1]
    np.testing.assert_allclose(stored["churn_probability"], expected)
    import json

    reasons = [r for x in stored["risk_drivers"] for r in json.loads(x)]
    assert reasons and {r["feature"] for r in reasons} <= {"Plan", "Tenure", "Tickets"}
    assert all(r["sentence"] for r in reasons)
    res = CliRunner().invoke(app, ["score-snapshot", "--data", str(tmp_path / "snap"), "--as-of", "2025-03-10",
                                   "--mrr", "Tenure"])  # any numeric attribute can carry revenue
    assert res.exit_code == 0, res.output
    week2 = ScoreStore.from_work_dir(tmp_path / "work").read(pd.Timestamp("2025-03-10").date()).set_index("account_id")
    np.testing.assert_allclose(week2["mrr"], customers.loc[week2.index, "Tenure"])
    assert week2["change_points"].notna().all()  # scored before: the change since then is explained
    res = CliRunner().invoke(app, ["score-snapshot", "--data", str(tmp_path / "snap"), "--name", "nobody"])
    assert res.exit_code == 1 and "train-snapshot" in res.output


def test_bad_snapshot_rows_are_named_or_quarantined(tmp_path: Path) -> None:
    src = tmp_path / "crm"
    src.mkdir()
    data = _synthetic(50)
    data.loc[7, "Cancelled"] = "Maybe"
    data.loc[9, "Customer"] = data.loc[8, "Customer"]
    data.to_csv(src / "customers.csv", index=False)
    with pytest.raises(DataValidationError) as err:
        import_data(src, MAPPING, tmp_path / "strict")
    text = str(err.value)
    assert "snapshot.churned: 1 row with a value that cannot be read as bool" in text and "row 8 " in text
    assert "snapshot.account_id: 1 row repeating an earlier row's unique key" in text
    report = import_data(src, MAPPING, tmp_path / "lenient", lenient=True)
    snap = report.tables["snapshot"]
    assert (snap.rows_read, snap.rows_written, snap.rows_rejected) == (50, 48, 2)
    rejects = pd.read_parquet(tmp_path / "lenient" / "rejects" / "snapshot.parquet")
    assert sorted(rejects["_reject_check"]) == ["bad_type", "duplicate"]
    assert rejects.set_index("_row").loc[8, "churned"] == "Maybe"


@pytest.mark.skipif(not TELCO.exists(), reason=f"real data not present at {TELCO}")
def test_telco_slice_beats_070(tmp_path: Path) -> None:
    src = tmp_path / "telco"
    src.mkdir()
    pd.read_csv(TELCO, dtype=str, keep_default_na=False).head(1500).to_csv(src / "Telco-Customer-Churn.csv",
                                                                            index=False)
    report = import_data(src, ROOT / "configs" / "examples" / "telco_ibm.yaml", tmp_path / "out")
    assert report.tables["snapshot"].rows_rejected == 0
    frame = load_snapshot(tmp_path / "out")
    result = train_snapshot(frame, SnapshotConfig(folds=3, model=FAST), figures=False)
    lgb, _ = result.auc("lightgbm")
    lr, _ = result.auc("logistic")
    assert lgb > 0.7 and lr > 0.7
    auc, lo, hi = result.interval("lightgbm")  # pooled held-out rows, bootstrap by customer
    assert lo < auc < hi and hi - lo < 0.2
    [said] = result.verdicts("roc_auc")
    assert said.startswith("roc_auc: lightgbm ") and "logistic" in said and "(" in said
    overall = result.metrics["overall"].set_index("model")
    assert {"roc_auc_lo", "roc_auc_hi", "log_loss_lo"} <= set(overall.columns)
    assert "customerID" not in result.model.feature_names_ and "Churn" not in result.model.feature_names_


def test_csv_missing_marker_and_parquet_parts(tmp_path: Path) -> None:
    """OULAD-style "?" for missing values (read option), and a table stored as a folder of Parquet parts."""
    src = tmp_path / "src"
    (src / "customers").mkdir(parents=True)
    data = _synthetic(40)
    data.iloc[:20].to_parquet(src / "customers" / "part-0.parquet", index=False)
    data.iloc[20:].to_parquet(src / "customers" / "part-1.parquet", index=False)
    report = import_data(src, MAPPING, tmp_path / "a")
    assert report.tables["snapshot"].rows_written == 40
    (tmp_path / "csv").mkdir()
    text = data.astype(str)
    text.loc[3, "Tenure"] = "?"
    text.to_csv(tmp_path / "csv" / "customers.csv", index=False)
    with_marker = MAPPING.model_copy(update={"read": MAPPING.read.model_copy(update={"csv_null": ["?"]})})
    import_data(tmp_path / "csv", with_marker, tmp_path / "b")
    tenure = load_snapshot(tmp_path / "b")["Tenure"]
    assert tenure.dtype == "float64" and tenure.isna().tolist() == [i == 3 for i in range(40)]
