"""Input as real businesses write it: repeated log rows, missing optional columns, day-resolution and offset
timestamps, anonymous answers, empty tables. Accepted, counted and reported; never rejected or lost."""

from __future__ import annotations

import datetime as pydt
from pathlib import Path

import pandas as pd
import pytest

from churnml.config import LabelsConfig
from churnml.data.sources import open_tables
from churnml.data.validate import validate_tables
from churnml.features import feature_set
from tests.support.factories import NOW, valid_frames, write_dataset

Frames = dict[str, pd.DataFrame]


def _validate(tmp_path: Path, frames: Frames, **kwargs: object):  # type: ignore[no-untyped-def]
    data = write_dataset(tmp_path / "data", frames)
    return validate_tables(open_tables(data), now=NOW.to_pydatetime(), **kwargs)  # type: ignore[arg-type]


def _repeating_events() -> Frames:
    """Row 1 written twice (equal in every column), and row 2's account/ts/type again with another user."""
    f = valid_frames()
    ev = f["events"]
    other_user = ev.iloc[[1]].assign(user_id="u9", value=5.0)
    f["events"] = pd.concat([ev, ev.iloc[[0]], other_user], ignore_index=True)
    return f


def test_events_repeating_account_ts_and_type_are_kept_and_exact_copies_counted(tmp_path: Path) -> None:
    clean, report = _validate(tmp_path, _repeating_events())
    rep = report.tables["events"]
    assert report.ok() and rep.rows_in == rep.rows_ok == 7 and rep.rows_dropped == 0
    assert clean["events"].count().execute() == 7
    [warning] = rep.warnings
    assert (warning.check, warning.n_rows) == ("repeated_rows", 1)
    assert "kept (data.duplicate_events: keep)" in warning.message
    assert warning.examples[0]["_copies"] == 2 and warning.examples[0]["account_id"] == "A1"


def test_duplicate_events_drop_keeps_one_copy_and_counts_the_rest(tmp_path: Path) -> None:
    for lenient in (False, True):
        clean, report = _validate(tmp_path / str(lenient), _repeating_events(), duplicate_events="drop",
                                  lenient=lenient)
        rep = report.tables["events"]
        assert (rep.rows_in, rep.rows_ok, rep.rows_rejected, rep.rows_dropped) == (7, 6, 0, 1)
        assert clean["events"].count().execute() == 6
        assert "dropped (data.duplicate_events: drop)" in rep.warnings[0].message


def test_event_id_is_the_key_when_present(tmp_path: Path) -> None:
    f = _repeating_events()
    f["events"].insert(0, "event_id", [f"e{i}" for i in range(len(f["events"]))])
    _, report = _validate(tmp_path, f)  # same values, distinct ids: all legal, no exact copies
    assert report.tables["events"].rows_ok == 7 and not report.tables["events"].warnings


def test_anonymous_survey_answers_at_the_same_second_are_legal(tmp_path: Path) -> None:
    f = valid_frames()
    sv = f["surveys"].assign(respondent_id=None)
    f["surveys"] = pd.concat([sv, sv.iloc[[0]]], ignore_index=True)  # two anonymous NPS answers, same second
    clean, report = _validate(tmp_path / "null", f)
    assert report.ok() and clean["surveys"].count().execute() == 4
    f["surveys"] = f["surveys"].drop(columns="respondent_id")  # and without the column at all
    clean, report = _validate(tmp_path / "absent", f)
    assert report.ok() and clean["surveys"].count().execute() == 4


def test_created_at_plan_and_seats_are_optional_and_created_at_is_derived(tmp_path: Path) -> None:
    f = valid_frames()
    f["accounts"] = f["accounts"].drop(columns="created_at")
    f["subscriptions"] = f["subscriptions"].drop(columns=["plan", "seats"])
    f["subscriptions"].loc[2, "account_id"] = "A2"  # A3 has no subscription: its first event is its start
    clean, report = _validate(tmp_path, f)
    assert report.ok()
    got = clean["accounts"].execute().set_index("account_id")["created_at"]
    assert got["A1"] == pd.Timestamp("2023-01-05") and got["A2"] == pd.Timestamp("2023-02-10")
    assert got["A3"] == pd.Timestamp("2024-02-01 08:00")
    assert clean.derived == {"accounts": ("created_at",)}
    assert any("first subscription start, else the first event" in n for n in report.tables["accounts"].notes)
    assert clean["accounts"].columns[:2] == ("account_id", "created_at")
    fs = feature_set(clean, [pydt.date(2024, 3, 1)], LabelsConfig())
    assert "plan" not in fs.names and "seats" not in fs.names
    assert len(fs.table.execute()) == 2  # A1 and A2's open subscriptions


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_day_resolution_timestamps_and_the_as_of_day_is_not_seen(tmp_path: Path, fmt: str) -> None:
    f = valid_frames()
    f["events"]["ts"] = f["events"]["ts"].dt.date  # dates only (CSV: "2024-01-02")
    f["tickets"]["opened_at"] = f["tickets"]["opened_at"].dt.normalize()  # midnight
    f["tickets"]["closed_at"] = f["tickets"]["closed_at"].dt.normalize() + pd.Timedelta(days=1)
    data = write_dataset(tmp_path / "data", f, fmt=fmt)
    clean, report = validate_tables(open_tables(data), now=NOW.to_pydatetime())
    assert report.ok() and clean["events"].schema()["ts"].is_timestamp()
    # A3's events are dated 2024-02-01 and 2024-02-02: as of 2024-02-02 only the first is seen.
    labels = LabelsConfig(kind="non_contractual")
    fs = feature_set(clean, [pydt.date(2024, 2, 2), pydt.date(2024, 2, 3)], labels, only=["events_7d"])
    got = fs.table.execute().set_index(["account_id", "as_of"])["events_7d"]
    assert got[("A3", pd.Timestamp("2024-02-02"))] == 1 and got[("A3", pd.Timestamp("2024-02-03"))] == 2


def test_text_timestamps_with_an_offset_are_converted_to_utc_and_reported(tmp_path: Path) -> None:
    f = valid_frames()
    f["events"]["ts"] = ["2024-01-02T10:00:00+05:00", "2024-01-02 11:00:00Z", "2024-01-03 09:00:00",
                         "2024-02-01T08:00:00-03:30", "2024-02-02T08:00:00.250+0000"]
    clean, report = _validate(tmp_path, f)
    got = clean["events"].order_by("user_id").execute()["ts"].tolist()
    assert got[:4] == [pd.Timestamp("2024-01-02 05:00"), pd.Timestamp("2024-01-02 11:00"),
                       pd.Timestamp("2024-01-03 09:00"), pd.Timestamp("2024-02-01 11:30")]
    assert got[4] == pd.Timestamp("2024-02-02 08:00:00.250")
    assert report.tables["events"].notes == [
        "ts: 4 text timestamps with a UTC offset (Z or ±hh:mm) were converted to UTC"
    ]


def test_empty_tables_pass_with_a_warning_and_features_and_labels_still_work(tmp_path: Path) -> None:
    from churnml.training.labels import labels_expr

    f = valid_frames()
    f["events"] = f["events"].iloc[:0]
    tickets = f.pop("tickets")
    data = write_dataset(tmp_path / "data", f)
    (data / "tickets.csv").write_text(",".join(tickets.columns) + "\n")  # header only
    clean, report = validate_tables(open_tables(data), now=NOW.to_pydatetime())
    assert report.ok()
    for name in ("events", "tickets"):
        warnings = [(w.check, w.message) for w in report.tables[name].warnings]
        assert warnings == [("empty_table", "the table has no rows")]
    dates = [pydt.date(2024, 3, 1)]
    fs = feature_set(clean, dates, LabelsConfig())
    assert len(fs.table.execute()) == 2
    assert labels_expr(clean, dates, LabelsConfig()).execute()["churned"].isna().all()  # horizon not yet seen


def test_repeated_rows_counts_what_distinct_counts_nulls_zeros_and_nan_included() -> None:
    """The row-hash shortcut (`repeated_rows`) agrees with DISTINCT: nulls, -0.0/0.0 and NaNs are repeats."""
    import ibis

    from churnml.data.derived import repeated_rows

    con = ibis.duckdb.connect()
    con.raw_sql("""CREATE TABLE t AS SELECT * FROM (VALUES
        ('A1', 0.0::DOUBLE, NULL::VARCHAR), ('A1', -0.0::DOUBLE, NULL), ('A2', 'nan'::DOUBLE, 'u1'),
        ('A2', -('nan'::DOUBLE), 'u1'), ('A3', 1.0, 'u1'), ('A3', 1.0, 'u2')) v(account_id, value, user_id)""")
    n_rep, examples = repeated_rows(con.table("t"), 5)
    assert n_rep == 2 and [e["account_id"] for e in examples] == ["A1", "A2"]
    assert all(e["_copies"] == 2 for e in examples)
    con.raw_sql("CREATE TABLE u AS SELECT * FROM t WHERE account_id = 'A3'")
    assert repeated_rows(con.table("u"), 5) == (0, [])
