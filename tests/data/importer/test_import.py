"""`churnml import` end to end: a company export in CSV, Parquet and DuckDB round-trips to the contract tables;
bad rows are refused (strict) or quarantined and counted (lenient), with table, column and row named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.cli.app import app
from churnml.config import DataConfig, Settings
from churnml.data.load import load_data
from churnml.data.sources import SourceError
from churnml.data.validate import DataValidationError
from churnml.importer import MappingError, import_data, load_mapping
from tests.support.export import MAPPING, company_export, write_folder
from tests.support.factories import NOW, valid_frames, write_duckdb


def _norm(df: pd.DataFrame) -> list[list[Any]]:
    return [[None if pd.isna(v) else str(v) for v in row] for row in df.itertuples(index=False)]


def assert_round_trip(out: Path) -> None:
    """Every imported table equals the contract-valid frames the export was made from, value by value."""
    for name, expected in valid_frames().items():
        got = pd.read_parquet(out / f"{name}.parquet")
        assert list(got.columns) == list(expected.columns), name
        assert _norm(got) == _norm(expected), name


def _source(kind: str, tmp: Path, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    tables = company_export() if tables is None else tables
    if kind == "duckdb":
        return write_duckdb(tmp / "export.duckdb", tables)
    return write_folder(tmp / f"export_{kind}", tables, kind)


@pytest.mark.parametrize("kind", ["csv", "parquet", "duckdb"])
def test_company_export_round_trips(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    report = import_data(_source(kind, tmp_path), MAPPING, out, now=NOW.to_pydatetime())
    assert_round_trip(out)
    events = report.tables["events"]
    assert (events.rows_read, events.rows_filtered, events.rows_written, events.rows_rejected) == (6, 1, 5, 0)
    tickets = {c.target: c for c in report.tables["tickets"].columns}
    assert tickets["priority"].counts == {"non_null": 3, "mapped": 3, "unmapped_kept": 0}
    assert tickets["opened_at"].counts["parsed"] == 3 and tickets["opened_at"].how.startswith("← created")
    assert json.loads((out / "import_report.json").read_text())["tables"]["accounts"]["rows_written"] == 3
    # The output is an ordinary churnml data folder.
    settings = Settings(data=DataConfig(dir=out), work_dir=tmp_path / "work")
    assert load_data(settings).report.ok()


def _bad_export() -> dict[str, pd.DataFrame]:
    tables = company_export()
    tables["helpdesk_tickets"].loc[2, "urgency"] = "P9"              # no such priority
    tables["crm_accounts"].loc[2, "SignupDate"] = "31/02/2023"        # no such date
    return tables


def test_bad_rows_fail_a_strict_import_with_table_column_and_row(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as err:
        import_data(_source("csv", tmp_path, _bad_export()), MAPPING, tmp_path / "out", now=NOW.to_pydatetime())
    text = str(err.value)
    assert "tickets.priority: 1 row with a value outside the allowed set" in text
    assert "row 3 {account_id: 'A2', ticket_id: 'T3', priority: 'P9'}" in text
    assert "accounts.created_at: 1 row with a value that cannot be read as timestamp" in text
    assert "31/02/2023" in text


def test_bad_rows_are_quarantined_and_counted_when_lenient(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = import_data(_source("parquet", tmp_path, _bad_export()), MAPPING, out, lenient=True,
                         now=NOW.to_pydatetime())
    tickets = report.tables["tickets"]
    assert (tickets.rows_read, tickets.rows_written, tickets.rows_rejected) == (3, 2, 1)
    rejects = pd.read_parquet(out / "rejects" / "tickets.parquet")
    assert rejects[["_row", "_reject_check", "_reject_column"]].values.tolist() == [[3, "not_allowed", "priority"]]
    assert rejects.loc[0, "priority"] == "P9"
    acc = pd.read_parquet(out / "rejects" / "accounts.parquet")
    assert acc.loc[0, "account_id"] == "A3" and acc.loc[0, "_reject_check"] == "bad_type"
    # A3's rows elsewhere are quarantined as unknown accounts, never dropped.
    subs = report.tables["subscriptions"]
    assert subs.rows_rejected == 1 and any("unknown_account" in p for p in subs.problems)
    for t in report.tables.values():
        assert t.rows_read == t.rows_filtered + t.rows_written + t.rows_rejected, t.table
    assert report.total_rejected == sum(len(pd.read_parquet(p)) for p in (out / "rejects").glob("*.parquet"))


def test_unreadable_attribute_is_missing_and_counted(tmp_path: Path) -> None:
    tables = company_export()
    tables["crm_accounts"]["Employees"] = ["12", "lots", "40"]
    out = tmp_path / "out"
    report = import_data(_source("csv", tmp_path, tables), MAPPING, out, now=NOW.to_pydatetime())
    employees = {c.target: c for c in report.tables["accounts"].columns}["employees"]
    assert employees.counts == {"non_null": 3, "not_int_set_missing": 1}
    got = pd.read_parquet(out / "accounts.parquet")["employees"]
    assert got.isna().tolist() == [False, True, False] and got.iloc[2] == 40


def test_mapping_errors_name_what_is_wrong(tmp_path: Path) -> None:
    src = _source("csv", tmp_path)
    m = load_mapping(MAPPING)
    m.tables["accounts"].columns["account_id"].column = "AccountNumber"
    with pytest.raises(MappingError, match=r"source 'crm_accounts' has no column\(s\) \['AccountNumber'\]"):
        import_data(src, m, tmp_path / "o1")
    m = load_mapping(MAPPING)
    m.tables["events"].source = "mixpanel"
    with pytest.raises(SourceError, match=r"table\(s\) \['mixpanel'\] not found"):
        import_data(src, m, tmp_path / "o2")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "precious.txt").write_text("x")
    with pytest.raises(SourceError, match="not empty"):
        import_data(src, MAPPING, tmp_path / "busy")


def test_cli_import(tmp_path: Path) -> None:
    src = _source("csv", tmp_path, _bad_export())
    out = tmp_path / "out"
    runner = CliRunner()
    strict = runner.invoke(app, ["import", "--source", str(src), "--mapping", str(MAPPING), "--out", str(out)])
    assert strict.exit_code == 1 and "error:" in strict.output and "tickets.priority" in strict.output
    res = runner.invoke(app, ["import", "--source", str(src), "--mapping", str(MAPPING), "--out", str(out),
                              "--lenient"])
    assert res.exit_code == 0, res.output
    assert "quarantined" in res.output and "Columns mapped" in res.output
    assert (out / "tickets.parquet").exists() and (out / "rejects" / "tickets.parquet").exists()


def test_cli_import_takes_config_and_counts_dropped_repeats(tmp_path: Path) -> None:
    tables = company_export()
    events = tables["product_events"]
    tables["product_events"] = pd.concat([events, events.iloc[[0]]], ignore_index=True)  # one event twice
    src = write_folder(tmp_path / "src", tables, "parquet")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  duplicate_events: drop\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["import", "--from", str(src), "--mapping", str(MAPPING), "--to", str(out),
                                   "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    ev = json.loads((out / "import_report.json").read_text())["tables"]["events"]
    assert (ev["rows_read"], ev["rows_filtered"], ev["rows_written"], ev["rows_dropped"]) == (
        len(events) + 1, 1, len(events) - 1, 1)
    assert ev["warnings"] == ["repeated_rows: 1 rows repeating another row in every column; the repeats are "
                              "dropped (data.duplicate_events: drop)"]
