"""Fresh scores read an in-memory copy of the source: same features as batch, and never older than the files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnml.config import Settings
from churnml.data.load import load_data
from churnml.features import compute_features
from churnml.scoring.fresh import FreshScorer
from churnml.scoring.snapshot import source_signature
from tests.support.tiny_world import AS_OF, SCHEMAS, frames


def _write(folder: Path, dfs: dict[str, pd.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in dfs.items():
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        for col, typ in SCHEMAS.get(name, {}).items():
            arrow = arrow.set_column(arrow.schema.get_field_index(col), col, pa.array(df[col].tolist(), typ))
        pq.write_table(arrow, folder / f"{name}.parquet")


def _settings(tmp_path: Path) -> Settings:
    return Settings(work_dir=tmp_path / "work", data={"dir": str(tmp_path / "data")})


def test_snapshot_features_equal_the_batch_frame(tmp_path: Path) -> None:
    _write(tmp_path / "data", frames())
    settings = _settings(tmp_path)
    batch = compute_features(load_data(settings).tables, [AS_OF], settings.labels).set_index("account_id")
    fresh = FreshScorer(settings)
    for aid in batch.index:
        one = fresh.features(aid, AS_OF).set_index("account_id")
        pd.testing.assert_frame_equal(one.astype(object), batch.loc[[aid]].astype(object),  # levels: per frame
                                      check_names=False, check_index_type=False)
    assert ".fresh_events_" in fresh.tables().tables["events"].get_name()  # read from the in-memory copy


def test_a_changed_source_is_read_again_at_the_next_request(tmp_path: Path) -> None:
    dfs = frames()
    _write(tmp_path / "data", dfs)
    fresh = FreshScorer(_settings(tmp_path))
    before = fresh.features("A2", AS_OF)["events_30d"].iloc[0]
    signature = source_signature(fresh.tables())
    extra = pd.DataFrame({"account_id": ["A2"] * 5, "ts": [pd.Timestamp("2024-03-20 12:00")] * 5,
                          "event_type": ["login"] * 5, "user_id": [3] * 5, "value": [1.0] * 5})
    dfs["events"] = pd.concat([dfs["events"], extra], ignore_index=True)
    _write(tmp_path / "data", dfs)
    path = tmp_path / "data" / "events.parquet"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))  # even within one tick
    assert source_signature(fresh.tables()) != signature
    assert fresh.features("A2", AS_OF)["events_30d"].iloc[0] == before + 5
