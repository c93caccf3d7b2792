"""Validation against the data contract: strict errors, lenient quarantine, types, defaults, sources."""

from __future__ import annotations

import datetime as pydt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from churnml.cli.render import validation_table
from churnml.data.contract import TABLES
from churnml.data.sources import Tables, duckdb_connection, open_tables
from churnml.data.validate import DataValidationError, validate_tables
from tests.support.factories import NOW, valid_frames, write_dataset, write_duckdb

Frames = dict[str, pd.DataFrame]


def _run(tmp_path: Path, frames: Frames, **kwargs: object) -> tuple[Tables, object]:
    data = write_dataset(tmp_path / "data", frames)
    return validate_tables(open_tables(data), now=NOW.to_pydatetime(), **kwargs)  # type: ignore[arg-type]


def _set(table: str, column: str, row: int, value: object) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        df = f[table]
        if value is None or (isinstance(value, str) and df[column].dtype != object):
            df[column] = df[column].astype(object)
        df.loc[row, column] = value

    return mutate


def _append_copy(table: str, row: int) -> Callable[[Frames], None]:
    def mutate(f: Frames) -> None:
        f[table] = pd.concat([f[table], f[table].iloc[[row]]], ignore_index=True)

    return mutate


def _with_event_ids_and_copy(f: Frames) -> None:
    """Events with an `event_id` (then the key) and one event written twice."""
    f["events"].insert(0, "event_id", [f"e{i}" for i in range(len(f["events"]))])
    _append_copy("events", 0)(f)


def _as_strings(table: str, column: str, row: int, value: str) -> Callable[[Frames], None]:
    """Store a column as text (as a sloppy export would), with one value that is no valid one."""

    def mutate(f: Frames) -> None:
        df = f[table]
        df[column] = df[column].astype(str)
        df.loc[row, column] = value

    return mutate


# (id, mutation, table, column, check, 1-based source rows that must be reported)
CASES = [
    ("accounts-duplicate", _append_copy("accounts", 1), "accounts", "account_id", "duplicate", [4]),
    ("accounts-future", _set("accounts", "created_at", 2, pd.Timestamp("2030-01-01")), "accounts",
     "created_at", "future_timestamp", [3]),
    ("subs-end-before-start", _set("subscriptions", "end_date", 1, pydt.date(2022, 1, 1)), "subscriptions",
     "end_date", "end_before_start", [2]),
    ("subs-null-mrr", _set("subscriptions", "mrr", 0, None), "subscriptions", "mrr", "not_null", [1]),
    ("subs-negative-seats", _set("subscriptions", "seats", 2, -1), "subscriptions", "seats", "out_of_range",
     [3]),
    ("subs-term-0", _set("subscriptions", "term_months", 0, 0), "subscriptions", "term_months",
     "out_of_range", [1]),
    ("subs-future-start", _set("subscriptions", "start_date", 0, pydt.date(2024, 7, 2)), "subscriptions",
     "start_date", "future_timestamp", [1]),
    ("subs-unknown-account", _set("subscriptions", "account_id", 2, "A9"), "subscriptions", "account_id",
     "unknown_account", [3]),
    ("events-bad-type", _as_strings("events", "ts", 3, "last tuesday"), "events", "ts", "bad_type", [4]),
    ("events-future", _set("events", "ts", 1, pd.Timestamp("2024-07-01 00:00:01")), "events", "ts",
     "future_timestamp", [2]),
    ("events-unknown-account", _set("events", "account_id", 4, "ZZ"), "events", "account_id",
     "unknown_account", [5]),
    ("events-duplicate-id", _with_event_ids_and_copy, "events", "event_id", "duplicate", [6]),
    ("surveys-same-respondent", _append_copy("surveys", 0), "surveys", "account_id, ts, kind, respondent_id",
     "duplicate", [4]),
    ("events-null-type", _set("events", "event_type", 2, None), "events", "event_type", "not_null", [3]),
    ("tickets-closed-before-opened", _set("tickets", "closed_at", 2, pd.Timestamp("2024-02-01")), "tickets",
     "closed_at", "end_before_start", [3]),
    ("tickets-priority", _set("tickets", "priority", 0, "critical"), "tickets", "priority", "not_allowed",
     [1]),
    ("tickets-duplicate-id", _set("tickets", "ticket_id", 2, "T1"), "tickets", "ticket_id", "duplicate", [3]),
    ("tickets-effort-8", _set("tickets", "effort_score", 0, 8.0), "tickets", "effort_score", "out_of_range",
     [1]),
    ("surveys-nps-11", _set("surveys", "score", 0, 11.0), "surveys", "score", "out_of_range", [1]),
    ("surveys-csat-6", _set("surveys", "score", 1, 6.0), "surveys", "score", "out_of_range", [2]),
    ("surveys-ces-0", _set("surveys", "score", 2, 0.0), "surveys", "score", "out_of_range", [3]),
    ("surveys-kind", _set("surveys", "kind", 2, "ces2"), "surveys", "kind", "not_allowed", [3]),
    ("surveys-unknown-account", _set("surveys", "account_id", 1, "A0"), "surveys", "account_id",
     "unknown_account", [2]),
    ("csm-enps-11", _set("csm_enps", "score", 1, 11.0), "csm_enps", "score", "out_of_range", [2]),
    ("csm-enps-duplicate", _append_copy("csm_enps", 0), "csm_enps", "csm_id, ts", "duplicate", [3]),
]  # fmt: skip


def test_valid_dataset_passes_strict_with_canonical_types(tmp_path: Path) -> None:
    clean, report = _run(tmp_path, valid_frames())
    assert report.ok() and report.total_rejected == 0
    assert {r.rows_in for r in report.tables.values()} >= {3, 5}
    schema = clean["events"].schema()
    assert str(schema["account_id"]) == "string" and schema["ts"].is_timestamp()
    assert schema["value"].is_floating()
    subs = clean["subscriptions"].schema()
    assert subs["start_date"].is_date() and subs["seats"].is_integer() and subs["mrr"].is_floating()
    assert clean["tickets"].schema()["reopened"].is_boolean()
    assert "employees" in clean["accounts"].columns  # accounts keep extra static attributes


@pytest.mark.parametrize(("mutate", "table", "column", "check", "rows"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_strict_names_table_column_check_and_rows(
    tmp_path: Path, mutate: Callable[[Frames], None], table: str, column: str, check: str, rows: list[int]
) -> None:
    frames = valid_frames()
    mutate(frames)
    with pytest.raises(DataValidationError) as err:
        _run(tmp_path, frames)
    problems = [p for p in err.value.problems if (p.table, p.column, p.check) == (table, column, check)]
    assert len(problems) == 1, err.value.problems
    assert problems[0].n_rows == len(rows)
    assert [ex["_row"] for ex in problems[0].examples] == rows
    message = str(err.value)
    assert f"{table}.{column}: {len(rows)} row" in message
    assert f"[{check}]" in message and f"row {rows[0]} {{" in message
    assert len(err.value.problems) == 1, message  # one bad value, one problem: no cascades in strict


@pytest.mark.parametrize(("mutate", "table", "column", "check", "rows"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_lenient_quarantines_exactly_the_bad_rows(
    tmp_path: Path, mutate: Callable[[Frames], None], table: str, column: str, check: str, rows: list[int]
) -> None:
    frames = valid_frames()
    mutate(frames)
    clean, report = _run(tmp_path, frames, lenient=True, work_dir=tmp_path / "work")
    rep = report.tables[table]
    assert rep.rows_in == len(frames[table])
    assert rep.rows_rejected == len(rows) and rep.rows_ok == rep.rows_in - len(rows)
    for r in report.tables.values():
        assert r.rows_in == r.rows_ok + r.rows_rejected
    assert [(p.column, p.check, p.n_rows) for p in rep.problems] == [(column, check, len(rows))]

    assert rep.rejects_path == tmp_path / "data" / "rejects" / f"{table}.parquet"
    rejects = pd.read_parquet(rep.rejects_path)
    assert rejects["_row"].tolist() == rows
    assert set(rejects["_reject_check"]) == {check} and set(rejects["_reject_column"]) == {column}
    assert rejects["_reject_reason"].str.len().min() > 10
    assert set(frames[table].columns) <= set(rejects.columns)  # original columns kept

    kept = clean[table].execute()
    expected = frames[table].drop(index=[r - 1 for r in rows])
    key = list(frames[table].columns[:2])
    assert sorted(map(tuple, kept[key].astype(str).values)) == sorted(map(tuple, expected[key].astype(str).values))
    assert (tmp_path / "work" / "validated" / f"{table}.parquet").exists()


def test_strict_lists_every_problem_with_readable_examples(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("surveys", "score", 0, 11.0)(frames)
    _set("tickets", "priority", 1, "High")(frames)
    with pytest.raises(DataValidationError) as err:
        _run(tmp_path, frames)
    message = str(err.value)
    assert "surveys.score: 1 row out of range for kind 'nps' (0–10)" in message
    assert "row 1 {account_id: 'A1', ts: 2024-03-02 10:00" in message and "score: 11.0" in message
    assert "tickets.priority: 1 row" in message and "'High'" in message
    assert "data.lenient: true" in message and "--" not in message  # the library names settings, not CLI flags


def test_missing_required_column_fails_even_lenient(tmp_path: Path) -> None:
    frames = valid_frames()
    frames["events"] = frames["events"].drop(columns=["event_type"])
    for lenient in (False, True):
        with pytest.raises(DataValidationError) as err:
            _run(tmp_path / str(lenient), frames, lenient=lenient)
        [problem] = err.value.problems
        assert (problem.table, problem.column, problem.check) == ("events", "event_type", "missing_column")
        assert "events.event_type" in str(err.value)
    assert not (tmp_path / "True" / "data" / "rejects").exists()


def test_missing_required_table_and_label_mode(tmp_path: Path) -> None:
    frames = valid_frames()
    del frames["subscriptions"]
    for lenient in (False, True):
        with pytest.raises(DataValidationError) as err:
            _run(tmp_path / str(lenient), frames, lenient=lenient)
        assert [(p.table, p.check) for p in err.value.problems] == [("subscriptions", "missing_table")]
    clean, report = _run(tmp_path / "nc", frames, require_subscriptions=False)
    assert "subscriptions" not in clean and report.ok()


def test_missing_optional_tables_and_columns_stay_absent(tmp_path: Path) -> None:
    frames = valid_frames()
    for name in ("tickets", "surveys", "csm_enps"):
        del frames[name]
    frames["accounts"] = frames["accounts"].drop(columns=["segment", "csm_id"])
    frames["events"] = frames["events"].drop(columns=["value", "user_id"])
    frames["subscriptions"] = frames["subscriptions"].drop(columns=["term_months"])
    clean, report = _run(tmp_path, frames)
    assert report.ok()
    assert "tickets" not in clean and "surveys" not in clean and "csm_enps" not in clean
    assert "segment" not in clean["accounts"].columns and "user_id" not in clean["events"].columns
    # The two contract defaults: events.value = 1, subscriptions.term_months = 1.
    assert clean["events"].execute()["value"].tolist() == [1.0] * 5
    assert clean["subscriptions"].execute()["term_months"].tolist() == [1, 1, 1]


def test_null_event_value_defaults_to_one_and_unknown_columns_are_reported(tmp_path: Path) -> None:
    frames = valid_frames()
    frames["events"]["value"] = [None, 2.0, None, 1.0, 1.0]
    frames["events"]["debug"] = "x"
    clean, report = _run(tmp_path, frames)
    assert sorted(clean["events"].execute()["value"]) == [1.0, 1.0, 1.0, 1.0, 2.0]
    assert "debug" not in clean["events"].columns
    assert report.tables["events"].ignored_columns == ["debug"]


def test_lenient_rejected_account_takes_its_child_rows_along(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("accounts", "created_at", 2, pd.Timestamp("2030-01-01"))(frames)  # account A3
    clean, report = _run(tmp_path, frames, lenient=True)
    assert report.tables["accounts"].rows_rejected == 1
    rejected_events = pd.read_parquet(report.tables["events"].rejects_path)
    assert rejected_events["account_id"].tolist() == ["A3", "A3"]
    assert set(rejected_events["_reject_check"]) == {"unknown_account"}
    assert report.tables["subscriptions"].rows_rejected == 1 and report.tables["surveys"].rows_rejected == 1
    assert "A3" not in set(clean["events"].execute()["account_id"])
    assert report.total_rejected == 5
    for r in report.tables.values():
        assert r.rows_in == r.rows_ok + r.rows_rejected


def test_lenient_row_is_rejected_once_for_its_first_problem(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("surveys", "score", 0, 11.0)(frames)
    _set("surveys", "ts", 0, pd.Timestamp("2030-01-01"))(frames)
    _, report = _run(tmp_path, frames, lenient=True)
    rep = report.tables["surveys"]
    assert (rep.rows_in, rep.rows_ok, rep.rows_rejected) == (3, 2, 1)
    assert pd.read_parquet(rep.rejects_path)["_reject_check"].tolist() == ["future_timestamp"]


def test_lenient_removes_stale_rejects_and_clean_run_is_ok(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("tickets", "priority", 0, "critical")(frames)
    _, report = _run(tmp_path, frames, lenient=True, rejects_dir=tmp_path / "rej")
    assert (tmp_path / "rej" / "tickets.parquet").exists() and not report.ok()
    _, report = _run(tmp_path / "again", valid_frames(), lenient=True, rejects_dir=tmp_path / "rej")
    assert report.ok() and not (tmp_path / "rej" / "tickets.parquet").exists()


def test_csv_integer_ids_join_parquet_string_ids(tmp_path: Path) -> None:
    frames = valid_frames()
    ids = {"A1": 1, "A2": 2, "A3": 3}
    accounts = frames["accounts"].assign(account_id=lambda d: d["account_id"].map(ids))
    write_dataset(tmp_path / "data", {"accounts": accounts}, fmt="csv")
    rest = {k: v for k, v in frames.items() if k != "accounts"}
    for name in ("subscriptions", "events", "tickets", "surveys"):
        rest[name] = rest[name].assign(account_id=lambda d: d["account_id"].map(ids).astype(str))
    write_dataset(tmp_path / "data", rest)
    tables = open_tables(tmp_path / "data")
    assert tables["accounts"].schema()["account_id"].is_integer()  # the CSV reader saw integers
    clean, report = validate_tables(tables, now=NOW.to_pydatetime())
    assert report.ok()
    assert str(clean["accounts"].schema()["account_id"]) == "string"
    joined = clean["events"].join(clean["accounts"], "account_id")
    assert joined.count().execute() == 5


def test_csv_text_in_a_numeric_column_is_a_bad_type(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("subscriptions", "mrr", 1, "n/a")(frames)
    data = write_dataset(tmp_path / "data", frames, fmt="csv")
    with pytest.raises(DataValidationError) as err:
        validate_tables(open_tables(data), now=NOW.to_pydatetime())
    [problem] = err.value.problems
    assert (problem.table, problem.column, problem.check, problem.n_rows) == ("subscriptions", "mrr", "bad_type", 1)
    assert problem.examples[0]["_row"] == 2 and problem.examples[0]["mrr"] == "n/a"


def _open_duckdb_file(db: Path) -> Tables:
    """The tables of a DuckDB file, attached read-only as `open_tables` does.

    Built here because `open_tables` on a DuckDB file currently fails with ibis 12 + duckdb 2.0
    (`list_tables` calls the removed `fetch_arrow_table`); the validation path is the same.
    """
    con = duckdb_connection()
    con.raw_sql(f"ATTACH '{db.as_posix()}' AS src (READ_ONLY)")
    found = Tables(con=con, source=str(db))
    for name in ("accounts", "subscriptions", "events", "tickets", "surveys", "csm_enps"):
        found.tables[name] = con.table(name, database="src")
        found.paths[name] = f"{db}:{name}"
    return found


def test_duckdb_file_source(tmp_path: Path) -> None:
    frames = valid_frames()
    _set("surveys", "score", 2, 9.0)(frames)  # CES is 1-7
    db = write_duckdb(tmp_path / "crm.duckdb", frames)
    with pytest.raises(DataValidationError, match="out of range for kind 'ces'"):
        validate_tables(_open_duckdb_file(db), now=NOW.to_pydatetime())
    clean, report = validate_tables(_open_duckdb_file(db), now=NOW.to_pydatetime(), lenient=True)
    assert report.tables["surveys"].rejects_path == tmp_path / "rejects" / "surveys.parquet"
    assert clean["surveys"].count().execute() == 2


def test_report_table_renders_counts(tmp_path: Path) -> None:
    from rich.console import Console

    frames = valid_frames()
    _set("surveys", "score", 0, 11.0)(frames)
    _, report = _run(tmp_path, frames, lenient=True)
    console = Console(record=True, width=200)
    console.print(validation_table(report))
    text = console.export_text()
    assert "surveys" in text and "out_of_range (score): 1" in text and "surveys.parquet" in text


def test_doc_lists_every_contract_table_and_column() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "data-contract.md").read_text()
    for spec in TABLES.values():
        section = doc.split(f"### `{spec.name}`", 1)[1].split("\n### ", 1)[0]
        for col in spec.columns:
            assert f"| `{col.name}` | {col.kind} | {'yes' if col.required else 'no'} |" in section, (
                spec.name,
                col.name,
            )
