"""The API bands a posted account by the edges of the latest stored scoring (a population of one has no base rate)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from churnml.config import RiskBands
from churnml.scoring.bands import BandCut
from churnml.scoring.store import ScoreStore
from serving.store import StoreReader
from tests.support.crm_scores import make_scores


def test_latest_cut_is_the_latest_scorings(tmp_path: Path) -> None:
    path = tmp_path / "scores.duckdb"
    reader = StoreReader(path)
    assert reader.latest_cut(RiskBands()) == BandCut("absolute", 0.10, 0.25)  # nothing stored yet
    early = BandCut("relative", 0.06, 0.11, base_rate=0.041)
    late = BandCut("capacity", 0.2, 0.5, base_rate=0.12, capacity="50 accounts")
    store = ScoreStore(path)
    store.write(make_scores(5, dt.date(2025, 3, 3)).assign(band_rule=early.to_json()))
    assert reader.latest_cut(RiskBands()) == early
    store.write(make_scores(5, dt.date(2025, 3, 10)).assign(band_rule=late.to_json()))
    assert reader.latest_cut(RiskBands()) == late  # the file changed: the cache is refreshed
    assert list(late.assign([0.1, 0.3, 0.6])) == ["low", "medium", "high"]
    assert json.loads(late.to_json())["capacity"] == "50 accounts"
