"""`churnml score` and `churnml report` refuse an as-of date past the end of the data (issue 19): months nobody
has observed would read as inactivity (scores) or as no churn at all (0% churn, 100% GRR in the report)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml.cli.app import app
from churnml.data.dates import PastDataEnd, check_observed, observed_until
from churnml.data.sources import open_tables
from tests.support.factories import write_dataset


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = write_dataset(tmp_path / "data")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"work_dir: {tmp_path / 'work'}\ndata:\n  dir: {data}\n")
    return cfg


def _end(config: Path) -> dt.date:
    return observed_until(open_tables(config.parent / "data"))


@pytest.mark.parametrize("command", ["score", "report"])
def test_a_date_past_the_data_is_refused_naming_its_last_day(command: str, config: Path) -> None:
    end = _end(config)
    late = end + dt.timedelta(days=30)
    res = CliRunner().invoke(app, [command, "--as-of", str(late), "--config", str(config)], terminal_width=200)
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert text.startswith(f"error: cannot {command} as of {late}: the data ends on {end - dt.timedelta(days=1)}")
    assert f"up to {end}" in text and "Traceback" not in text
    assert not (config.parent / "work").exists()  # refused before any model, store or run is touched


def test_the_end_of_the_data_itself_is_accepted(config: Path) -> None:
    tables = open_tables(config.parent / "data")
    end = observed_until(tables)
    check_observed(tables, end, "score")  # the default date: allowed
    with pytest.raises(PastDataEnd, match=f"data ends on {end - dt.timedelta(days=1)}"):
        check_observed(tables, end + dt.timedelta(days=1), "score")
