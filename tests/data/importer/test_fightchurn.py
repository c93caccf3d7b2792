"""configs/examples/fightchurn_socialnet7.yaml on a tiny world in fight-churn's own schema (account, subscription,
event, event_type): event ids become names, repeats are kept and counted, created_at and seats need not exist."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from churnml.importer import import_data

MAPPING = Path(__file__).resolve().parents[3] / "configs" / "examples" / "fightchurn_socialnet7.yaml"


def _world(folder: Path) -> Path:
    folder.mkdir()
    pd.DataFrame({"id": [0, 2], "channel": ["appstore1", "web"], "date_of_birth": [dt.date(1990, 1, 1)] * 2,
                  "country": ["IN", None]}).to_parquet(folder / "account.parquet", index=False)
    pd.DataFrame({
        "account_id": [0, 0, 2], "product": ["basic"] * 3,
        "start_date": [dt.date(2020, 1, 18), dt.date(2020, 2, 18), dt.date(2020, 1, 5)],
        "end_date": [dt.date(2020, 2, 18), dt.date(2020, 3, 18), dt.date(2020, 2, 5)],
        "mrr": [10, 10, 10], "quantity": [None] * 3, "units": [None] * 3, "bill_period_months": [1, 1, 1],
        "discount": [0, 0, 0],
    }).to_parquet(folder / "subscription.parquet", index=False)
    second = pd.Timestamp("2020-01-20 10:00:01")
    pd.DataFrame({
        "account_id": pd.array([0, 0, 0, 2], dtype="int32"),
        "event_time": [second, second, second + pd.Timedelta(hours=1), pd.Timestamp("2020-01-06 08:00")],
        "event_type_id": pd.array([1, 1, 5, 0], dtype="int8"),  # account 0 made one friend twice in a second
    }).to_parquet(folder / "event.parquet", index=False)
    names = ["post", "newfriend", "like", "adview", "dislike", "unfriend", "message", "reply"]
    pd.DataFrame({"event_type_id": range(8), "event_type_name": names}).to_parquet(
        folder / "event_type.parquet", index=False)
    return folder


def test_fightchurn_schema_imports_every_event(tmp_path: Path) -> None:
    report = import_data(_world(tmp_path / "fc"), MAPPING, tmp_path / "out", now=dt.datetime(2021, 4, 1))
    ev = report.tables["events"]
    assert (ev.rows_read, ev.rows_written, ev.rows_rejected, ev.rows_dropped) == (4, 4, 0, 0)
    assert ev.warnings == ["repeated_rows: 1 rows repeating another row in every column; the repeats are kept "
                           "(data.duplicate_events: keep)"]
    events = pd.read_parquet(tmp_path / "out" / "events.parquet").sort_values(["account_id", "ts"])
    assert events["event_type"].tolist() == ["newfriend", "newfriend", "unfriend", "post"]
    accounts = pd.read_parquet(tmp_path / "out" / "accounts.parquet").set_index("account_id")
    assert accounts.loc["0", "created_at"] == pd.Timestamp("2020-01-18")  # the first subscription start
    assert "date_of_birth" not in accounts.columns and accounts.loc["0", "channel"] == "appstore1"
    subs = pd.read_parquet(tmp_path / "out" / "subscriptions.parquet")
    assert "seats" not in subs.columns and set(subs["plan"]) == {"basic"}
    assert any("created_at: not in the source" in n for n in report.tables["accounts"].notes)
