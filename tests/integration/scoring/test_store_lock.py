"""`churnml score` while another process holds scores.duckdb: one line naming the holder, at once; or it waits."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml.scoring.store import ScoreStore
from tests.support.serving_world import ServingWorld
from tests.support.store_lock import held_by_another_process


def test_score_with_the_store_held_fails_at_once_naming_the_holder(
        serving_world: ServingWorld, monkeypatch: pytest.MonkeyPatch,
        record_property: Callable[[str, object], None]) -> None:
    from churnml.cli.app import app

    settings = serving_world.settings
    monkeypatch.setenv("CHURNML_WORK_DIR", str(settings.work_dir))
    monkeypatch.setenv("CHURNML_DATA__DIR", str(settings.data.dir))
    store = ScoreStore.from_work_dir(settings.work_dir)
    before = store.read()
    with held_by_another_process(store.path) as holder:
        t0 = time.monotonic()
        res = CliRunner().invoke(app, ["score", "--as-of", serving_world.dates[-1].isoformat()])
        took = time.monotonic() - t0
    record_property("score with the store held: error after", f"{took:.1f} s")
    said = " ".join(res.output.split())  # rich wraps the line at the terminal width
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert said.startswith("error: ") and f"in use by process {holder.pid} (" in said
    assert f"kill {holder.pid}" in said and "store_wait_s" in said
    assert took < 15, f"the lock was reported after {took:.0f} s"  # before features and scoring, not after
    assert store.read().equals(before)


def test_scoring_waits_for_the_store_when_told_to(serving_world: ServingWorld, tmp_path: Path) -> None:
    from churnml.scoring.job import run_scoring

    copy = tmp_path / "scores.duckdb"
    shutil.copy(ScoreStore.from_work_dir(serving_world.settings.work_dir).path, copy)
    date = serving_world.dates[-1]
    with held_by_another_process(copy, release_after_s=1.5):
        run = run_scoring(serving_world.settings, date, store=ScoreStore(copy, wait_s=60))
    assert len(run.scores) and set(ScoreStore(copy).read(date)["account_id"]) == set(run.scores["account_id"])
