"""The same feature and label definitions on Spark (local mode) as on DuckDB: identical results.

One SparkSession for the module (starting one costs ~10 s). Needs a Java 17+ runtime; the module is skipped,
saying so, only where none is found (CI's machine image has one; docs/scaling.md says how to get it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.config import FeaturesConfig, LabelsConfig, Settings
from churnml.data.load import load_data
from churnml.data.sources import Tables
from churnml.data.spark import java_available, spark_session, write_features_spark
from churnml.features import FeatureSet, feature_set
from churnml.features.pipeline import to_frame
from churnml.simulate import simulate_world
from churnml.training.labels import labels_expr
from tests.support.system import missing
from tests.support.tiny_world import AS_OF, frames, to_tables

pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True, scope="module")
def _java() -> None:
    if not java_available():
        missing("Spark needs a Java 17+ runtime (JAVA_HOME or java on PATH; .ci/system-deps.sh installs one)")

# Weekly as-of dates inside the simulated ten months, late enough for full look-back windows, with a mix of
# observable and not-yet-observable labels.
DATES = [dt.date(2024, 6, 3) + dt.timedelta(days=7 * i) for i in range(4)] + [dt.date(2024, 10, 7)]


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    session = spark_session(master="local[2]", app_name="churnml-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark_world")
    simulate_world(out, accounts=80, start=dt.date(2024, 1, 1), months=10, seed=5, progress=False)
    return out


def _settings(engine: str, kind: str, tmp: Path) -> Settings:
    return Settings(
        work_dir=tmp / engine,
        features={"engine": engine},
        labels={"kind": kind},
    )


@pytest.fixture(scope="module")
def loaded(spark: object, world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tables]:
    """Validated tables on each engine, through the product path (`load_data` → `connect`)."""
    tmp = tmp_path_factory.mktemp("spark_work")
    out = {}
    for engine in ("duckdb", "spark"):
        tables = load_data(_settings(engine, "contractual", tmp), world).tables
        assert tables.con.name == ("pyspark" if engine == "spark" else "duckdb")
        out[engine] = tables
    return out


def _features(tables: Tables, dates: list[dt.date], labels: LabelsConfig,
              **kwargs: object) -> tuple[pd.DataFrame, FeatureSet]:
    fs = feature_set(tables, dates, labels, **kwargs)
    return to_frame(fs, tables.con), fs


def _labels(tables: Tables, dates: list[dt.date], labels: LabelsConfig) -> pd.DataFrame:
    df = tables.con.to_pandas(labels_expr(tables, dates, labels))
    df["as_of"] = pd.to_datetime(df["as_of"]).astype("datetime64[ns]")
    df["churn_date"] = pd.to_datetime(df["churn_date"]).astype("datetime64[ns]")
    df["churned"] = df["churned"].astype("boolean")
    return df.sort_values(["account_id", "as_of"]).reset_index(drop=True)


def assert_same_features(duck: pd.DataFrame, spark: pd.DataFrame, fs: FeatureSet) -> None:
    """Same rows and columns; counts exactly equal, other numbers within 1e-9, categoricals identical."""
    assert list(duck.columns) == list(spark.columns)
    pd.testing.assert_frame_equal(duck[["account_id", "as_of"]], spark[["account_id", "as_of"]])
    bad = {}
    for spec in fs.specs:
        a, b = duck[spec.name], spark[spec.name]
        if spec.kind == "categorical":
            same = a.astype(object).fillna("<null>") == b.astype(object).fillna("<null>")
            assert set(a.cat.categories) == set(b.cat.categories), spec.name
        else:
            x, y = a.to_numpy(float), b.to_numpy(float)
            tol = 0.0 if np.allclose(x[~np.isnan(x)] % 1, 0) else 1e-9  # counts and other integers exactly
            same = pd.Series((np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= tol))
        if not same.all():
            bad[spec.name] = int((~same).sum())
    assert not bad, f"features differ between DuckDB and Spark (column: rows): {bad}"


def test_simulated_features_identical(loaded: dict[str, Tables]) -> None:
    cfg = LabelsConfig()
    duck, fs = _features(loaded["duckdb"], DATES, cfg)
    spark, fs_spark = _features(loaded["spark"], DATES, cfg)
    assert fs.names == fs_spark.names and len(fs.specs) > 40
    assert len(duck) > 200 and duck["as_of"].nunique() == len(DATES)
    assert_same_features(duck, spark, fs)


def test_configured_windows_and_money_features_identical(loaded: dict[str, Tables]) -> None:
    """Windows from the config (one longer than the data), lifetime, money sums and means, uncapped recency."""
    cfg = LabelsConfig()
    features = FeaturesConfig(windows={"usage": [7, 30, 45, 400], "support": [14, 120], "sentiment": [60]},
                              event_value={"meaning": "money", "unit": "USD"})
    duck, fs = _features(loaded["duckdb"], DATES, cfg, features=features)
    spark, fs_spark = _features(loaded["spark"], DATES, cfg, features=features)
    assert fs.names == fs_spark.names
    assert {"value_45d", "value_mean_400d", "value_lifetime", "events_vs_history_45d", "active_weeks_lifetime",
            "tickets_120d", "csat_mean_60d", "days_since_last_ticket", "days_since_last_survey"} <= set(fs.names)
    assert duck["value_lifetime"].gt(0).any() and duck["events_vs_history_45d"].notna().any()
    assert_same_features(duck, spark, fs)


def test_simulated_contractual_labels_identical(loaded: dict[str, Tables]) -> None:
    cfg = LabelsConfig()
    duck = _labels(loaded["duckdb"], DATES, cfg)
    spark = _labels(loaded["spark"], DATES, cfg)
    pd.testing.assert_frame_equal(duck, spark)
    assert duck["churned"].notna().any() and duck["churned"].isna().any()  # both label states exercised


def test_non_contractual_features_and_labels_identical(loaded: dict[str, Tables]) -> None:
    cfg = LabelsConfig(kind="non_contractual", horizon_days=30)
    dates = DATES[:2]
    duck, fs = _features(loaded["duckdb"], dates, cfg)
    spark, _ = _features(loaded["spark"], dates, cfg)
    assert_same_features(duck, spark, fs)
    pd.testing.assert_frame_equal(_labels(loaded["duckdb"], dates, cfg), _labels(loaded["spark"], dates, cfg))


def test_event_type_and_buyer_features_identical(loaded: dict[str, Tables]) -> None:
    """Issue 14's blocks: per-type counts, shares, trends, ratios (top 3 chosen before the first date) and the
    BG/NBD features (summaries on each engine, one fit per date) agree between the engines."""
    cfg = FeaturesConfig(buyer="on", event_types={"select": "top 3", "ratios": [["login", "search"]]})
    names = [n for n in feature_set(loaded["duckdb"], DATES[:2], LabelsConfig(), features=cfg).names
             if n.startswith(("count_", "share_", "trend_", "ratio_", "btyd_"))]
    assert len(names) == 3 * 5 + 2 + 2
    frames_ = {e: _features(loaded[e], DATES[:2], LabelsConfig(), only=names, features=cfg) for e in loaded}
    duck, fs = frames_["duckdb"]
    assert duck["btyd_p_alive"].notna().sum() > 50 and duck["count_login_90d"].sum() > 0
    assert_same_features(duck, frames_["spark"][0], fs)


def test_tiny_world_identical(spark: object) -> None:
    from churnml.data.spark import spark_connection

    duck_tables = to_tables(frames())
    spark_tables = Tables(spark_connection(spark), "memory", dict(duck_tables.tables))
    cfg = LabelsConfig()
    duck, fs = _features(duck_tables, [AS_OF], cfg)
    on_spark, _ = _features(spark_tables, [AS_OF], cfg)
    assert sorted(duck.account_id) == ["A1", "A2"]
    assert_same_features(duck, on_spark, fs)
    # A value computed by hand in tests/features: resolution of T3 took exactly 24 hours.
    assert on_spark.set_index("account_id").loc["A1", "resolution_hours_90d"] == 24.0


def test_write_features_partitioned_by_as_of(loaded: dict[str, Tables], tmp_path: Path) -> None:
    fs = feature_set(loaded["spark"], DATES[:2], LabelsConfig())
    out = tmp_path / "features"
    rows = write_features_spark(fs, out)
    parts = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert parts == [f"as_of={d.isoformat()}" for d in DATES[:2]]
    back = pd.read_parquet(out)
    assert len(back) == rows > 0
    assert set(back.columns) == {"account_id", "as_of", *fs.names}
    # Written again: replaced, not appended.
    assert write_features_spark(fs, out) == rows


# --------------------------------------------------------------------------- batch scoring on Spark


@pytest.fixture(scope="module")
def champion(world: Path, loaded: dict[str, Tables], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained on the DuckDB frame, logged and registered as champion; returns the work dir."""
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import ENV_TRACKING_URI, configure
    from churnml.model.model import ChurnModel
    from churnml.training.frames import build_training_frame

    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    try:
        frame, _ = build_training_frame(loaded["duckdb"], [dt.date(2024, 4, 1) + dt.timedelta(days=7 * i)
                                                           for i in range(20)])
        lab = frame[frame["churned"].notna()]
        model = ChurnModel(n_estimators=40, learning_rate=0.15, num_leaves=7, min_child_samples=10,
                           num_threads=1, calibration="sigmoid").fit(lab, lab["churned"], X_calib=lab,
                                                                     y_calib=lab["churned"])
        work = tmp_path_factory.mktemp("spark_champion")
        run = log_run(configure(work), RunRecord(model, frame.head(10), metrics={"roc_auc": 0.7}, run_name="spark"))
        registry = ModelRegistry.from_work_dir(work)
        registry.promote_if_better(registry.register(run.run_id))
        yield work
    finally:
        mp.undo()


def test_spark_batch_scores_equal_embedded_scores(world: Path, champion: Path, spark: object,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_scoring` with features.engine=spark (features and scoring on Spark, mapInPandas) writes exactly the
    rows the embedded path writes, two weeks running so the change-since-last-scoring columns are compared too."""
    from churnml.lifecycle.tracking import ENV_TRACKING_URI
    from churnml.scoring.job import run_scoring
    from churnml.scoring.store import COLUMNS, ScoreStore

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    stores = {}
    for engine in ("duckdb", "spark"):
        settings = Settings(work_dir=champion, data={"dir": world}, features={"engine": engine})
        store = ScoreStore(champion / f"scores_{engine}.duckdb")
        for as_of in DATES[-2:]:
            run = run_scoring(settings, as_of, store=store)
            assert run.model_uri.endswith("/1")
        stores[engine] = store.read().drop(columns="scored_at")
    duck, on_spark = stores["duckdb"], stores["spark"]
    assert list(on_spark.columns) == [c for c in COLUMNS if c != "scored_at"]
    assert len(duck) > 100 and duck["change_points"].notna().sum() > 50
    pd.testing.assert_frame_equal(duck, on_spark, check_exact=False, rtol=1e-12, atol=1e-12)
    # the executors also wrote the score table as Parquet partitioned by as_of
    parts = sorted(p.name for p in (champion / "scores_spark").iterdir() if p.is_dir())
    assert parts == [f"as_of={d.isoformat()}" for d in DATES[-2:]]
