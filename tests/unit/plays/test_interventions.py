"""Recording a done play: one row per (account, ts, play) in the log, and the account's alert resolved."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from churnml.config import PlaysConfig, Settings
from churnml.plays.alerts import CAUSE_COLUMNS
from churnml.plays.interventions import record_play
from churnml.plays.state import AlertStore


def test_record_play_appends_once_and_resolves_the_alert(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path / "work", data={"dir": tmp_path / "data"}, plays={"holdout": 0.0})
    week = dt.date(2024, 6, 3)
    causes = pd.DataFrame([["A1", week, "detractor", "nps_latest 3 (<= 6)", "medium", 0.2, 100.0, ""]],
                          columns=CAUSE_COLUMNS)
    AlertStore.from_work_dir(settings.work_dir).update(week, causes, PlaysConfig(holdout=0.0))
    when = dt.datetime(2024, 6, 4, 10, 0)
    assert record_play(settings, "A1", "executive_call", when, csm_id="C1") == 1
    assert record_play(settings, "A1", "executive_call", when, csm_id="C1") == 0  # already resolved
    record_play(settings, "A2", "adoption_session", when)
    log = pd.read_parquet(tmp_path / "data" / "interventions.parquet")
    assert list(log.columns) == ["account_id", "ts", "play", "csm_id", "outcome"]
    assert len(log) == 2 and set(log.account_id) == {"A1", "A2"}
    assert AlertStore.from_work_dir(settings.work_dir).read().iloc[0].status == "resolved"


def test_record_play_refuses_future_and_csv_logs(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path / "work", data={"dir": tmp_path / "data"})
    with pytest.raises(ValueError, match="in the future"):
        record_play(settings, "A1", "executive_call", dt.datetime(2999, 1, 1))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "interventions.csv").write_text("account_id,ts,play\n")
    with pytest.raises(ValueError, match=r"interventions\.csv"):
        record_play(settings, "A1", "executive_call", dt.datetime(2024, 1, 1))
