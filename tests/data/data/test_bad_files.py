"""Bad files and hostile values: one line naming the file and table, markup printed as itself, values cut."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnml.cli.app import app
from churnml.data.sources import SourceError, open_tables
from churnml.data.validate import DataValidationError, validate_tables
from tests.support.factories import NOW, valid_frames, write_dataset


def _validate(data: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    return validate_tables(open_tables(data), now=NOW.to_pydatetime(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _wide_consoles() -> Iterator[None]:
    """Rich wraps at the terminal width (80 under the test runner): print wide, so cells hold one line."""
    from churnml.cli import app as app_module
    from churnml.cli import errors

    consoles = [app_module.console, errors.err_console]
    widths = [c.width for c in consoles]
    for c in consoles:
        c.width = 2_000
    yield
    for c, w in zip(consoles, widths, strict=True):
        c.width = w


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def _events_in_parts(data: Path) -> Path:
    events = valid_frames()["events"]
    (data / "events.parquet").unlink()
    parts = data / "events"
    parts.mkdir()
    events.iloc[:3].to_parquet(parts / "part-0.parquet", index=False)
    events.iloc[3:].to_parquet(parts / "part-1.parquet", index=False)
    return parts


@pytest.mark.parametrize("damage", ["zero-byte", "truncated"])
def test_unreadable_parquet_is_one_line_naming_file_and_table(tmp_path: Path, damage: str) -> None:
    data = write_dataset(tmp_path / "data")
    part = _events_in_parts(data) / "part-1.parquet"
    whole = data / "tickets.parquet"
    for path in (part, whole):
        raw = path.read_bytes()
        path.write_bytes(b"" if damage == "zero-byte" else raw[: len(raw) // 2])
    with pytest.raises(SourceError) as err:
        _validate(data)
    message = str(err.value)
    assert "\n" not in message and str(part) in message
    assert message.startswith("events: cannot read Parquet")
    code, out = _cli("validate", "--data", str(data))
    assert code == 1 and "Traceback" not in out
    assert "events: cannot read Parquet file" in out and str(part) in out
    part.write_bytes(b"")  # the whole-table file is named too once the part is gone
    part.unlink()
    with pytest.raises(SourceError, match=r"^tickets: cannot read Parquet file .*tickets\.parquet"):
        _validate(data)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("A3,T3,2024-03-01 12:00:00,2024-03-02 08:00:00,normal,6.0,True\nA2,T4,2024-03-0",
         r"line 5 has 3 field\(s\), fewer than the header's 7 "
         r"\(the file ends in the middle of this row: truncated\?\)"),
        ("A3,T3,2024-03-01 12:00:00,2024-03-02 08:00:00,normal,6.0,True,surplus\n",
         r"line 4 has 8 field\(s\), more than the header's 7"),
    ],
    ids=["truncated-last-row", "extra-field"],
)
def test_csv_row_that_does_not_fit_its_header_names_file_and_line(
    tmp_path: Path, tail: str, expected: str
) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "tickets.parquet").unlink()
    tickets = valid_frames()["tickets"].iloc[:2]
    csv = data / "tickets.csv"
    csv.write_text(tickets.to_csv(index=False) + tail)
    with pytest.raises(SourceError, match=rf"^tickets: cannot read CSV file {csv}: {expected}$"):
        _validate(data)
    code, out = _cli("validate", "--data", str(data))
    assert code == 1 and str(csv) in out and "line" in out and "required column is missing" not in out


def test_markup_in_ids_is_printed_as_is_and_check_tags_survive(tmp_path: Path) -> None:
    f = valid_frames()
    f["events"].loc[0, "account_id"] = "[/x]"  # rich closing tag: crashed the renderer
    f["events"].loc[1, "account_id"] = "[bold]A9"
    data = write_dataset(tmp_path / "data", f)
    code, out = _cli("validate", "--data", str(data))
    assert code == 1, out
    assert "[unknown_account]" in out and "'[/x]'" in out and "'[bold]A9'" in out and "Traceback" not in out
    code, out = _cli("validate", "--data", str(data), "--lenient")
    assert code == 0, out
    assert "unknown_account (account_id): 2" in out and "quarantined" in out


def test_huge_values_are_cut_with_their_length(tmp_path: Path) -> None:
    f = valid_frames()
    f["events"].loc[0, "account_id"] = "x" * 1_000_000
    data = write_dataset(tmp_path / "data", f)
    with pytest.raises(DataValidationError) as err:
        _validate(data)
    message = str(err.value)
    assert len(message) < 1_000 and "'" + "x" * 80 + "'… (1,000,000 characters)" in message
    code, out = _cli("validate", "--data", str(data))
    assert code == 1 and len(out) < 2_000 and "(1,000,000 characters)" in out


def test_empty_tables_warn_and_features_cli_runs(tmp_path: Path) -> None:
    f = valid_frames()
    f["events"] = f["events"].iloc[:0]
    tickets = f.pop("tickets")
    data = write_dataset(tmp_path / "data", f)
    (data / "tickets.csv").write_text(",".join(tickets.columns) + "\n")
    code, out = _cli("validate", "--data", str(data))
    assert code == 0 and out.count("warning empty_table") == 2, out
    feats = tmp_path / "features.parquet"
    code, out = _cli("features", "--data", str(data), "--as-of", "2024-03-01", "--out", str(feats))
    assert code == 0, out
    assert len(pd.read_parquet(feats)) == 2
