"""`work/` can be moved (issue 19): a model trained in one place scores from the moved folder, reading nothing
under the old path, because the embedded store's artifact locations follow the work directory."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from churnml.config import DataConfig, Settings
from churnml.lifecycle.tracking import ARTIFACT_COLUMNS, DB_FILE, ENV_TRACKING_URI, relocate_artifacts
from tests.unit.scoring.test_explain import build_world


def _paths_in_store(work: Path) -> list[str]:
    """Every artifact URI of the store but MLflow's own unused `Default` experiment (at ./mlruns of wherever the
    store was created)."""
    con = sqlite3.connect(work / DB_FILE)
    try:
        return [v for table, col in ARTIFACT_COLUMNS for (v,) in con.execute(f'SELECT "{col}" FROM "{table}"')
                if v is not None and not (table == "experiments" and v.rstrip("/").endswith("/mlruns/0"))]
    finally:
        con.close()


def test_a_moved_work_dir_scores_from_its_own_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure
    from churnml.scoring.job import run_scoring

    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    world = build_world(tmp_path / "world")
    old = tmp_path / "first" / "work"
    run = log_run(configure(old), RunRecord(world.model, world.frame.head(10), metrics={"roc_auc": 0.7},
                                            run_name="t"))
    registry = ModelRegistry.from_work_dir(old)
    registry.promote_if_better(registry.register(run.run_id))
    stored = _paths_in_store(old)
    assert len(stored) >= 4 and all(p.startswith(old.resolve().as_uri()) for p in stored)

    new = tmp_path / "elsewhere" / "work"
    new.parent.mkdir()
    shutil.move(old, new)
    assert not old.exists()
    monkeypatch.chdir(tmp_path)  # nothing may resolve against the current directory either
    run_ = run_scoring(Settings(work_dir=new, data=DataConfig(dir=world.data)), world.dates[-1])
    assert len(run_.scores) > 50 and run_.model_uri == "models:/churn-risk/1"
    assert not old.exists() and not (tmp_path / "mlruns").exists()  # nothing read or written at the old place
    moved = _paths_in_store(new)
    assert len(moved) == len(stored) and all(p.startswith(new.resolve().as_uri() + "/") for p in moved)
    assert relocate_artifacts(new) == 0  # in place: nothing more to do


def test_relocation_leaves_other_roots_alone(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    con = sqlite3.connect(work / DB_FILE)
    con.execute("CREATE TABLE experiments (artifact_location TEXT)")
    con.execute("CREATE TABLE runs (artifact_uri TEXT)")
    old = "file:///gone/work/mlartifacts"
    con.executemany("INSERT INTO experiments VALUES (?)", [(old,), ("s3://bucket/artifacts",)])
    con.executemany("INSERT INTO runs VALUES (?)", [(f"{old}/r1/artifacts",), ("file:///gone/work/mlartifacts2/x",),
                                                    ("s3://bucket/artifacts/r2",)])
    con.commit()
    con.close()
    assert relocate_artifacts(work) == 2
    con = sqlite3.connect(work / DB_FILE)
    runs = [r for (r,) in con.execute("SELECT artifact_uri FROM runs")]
    root = (work / "mlartifacts").resolve().as_uri()
    assert runs == [f"{root}/r1/artifacts", "file:///gone/work/mlartifacts2/x", "s3://bucket/artifacts/r2"]
    assert sorted(r for (r,) in con.execute("SELECT artifact_location FROM experiments")) == [
        root, "s3://bucket/artifacts"]
