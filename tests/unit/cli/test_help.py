"""Help and errors read the same in every `churnml` command (issue 19): `--version`, no `<bool>` on flags, choice
lists whole, defaults shown, and one style and exit code (`error: ...`, 1) for the errors a user can fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnml import __version__
from churnml.cli.app import app
from tests.unit.cli.test_config_option import COMMANDS


def _help(command: str, width: int = 80) -> str:
    res = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=width)
    assert res.exit_code == 0, res.output
    return res.output


def test_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"churnml {__version__}"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_has_no_bool_and_no_cut_words(command: str) -> None:
    text = _help(command)
    assert "<bool>" not in text
    no_lists = re.sub(r"\[,\w+\.\.\.\]", "", text).replace("COMMAND [ARGS]...", "")  # DATE[,DATE...] is no cut
    assert "..." not in no_lists  # no summary cut short
    assert all(len(line) <= 80 for line in text.splitlines())


def test_choices_are_whole_and_defaults_shown() -> None:
    assert "--to, --target <hubspot|salesforce|webhook|csv|parquet|slack>" in _help("push")
    assert "--engine <duckdb|spark>" in _help("features", 60)
    features = " ".join(_help("features").split())
    assert "[default: work/features.parquet]" in features and "--labels / --no-labels" in features
    assert "(default: simulate.accounts, 2000)" in " ".join(_help("simulate").split())


@pytest.mark.parametrize("args", [
    ["score", "--as-of", "2025-13-01"], ["report", "--as-of", "soon"], ["push", "--as-of", "x"],
    ["forecast", "--as-of", "2025-02-30"], ["retrain", "--as-of", "tomorrow"],
])
def test_a_bad_date_is_one_error_line_and_exit_1(args: list[str]) -> None:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"error: --as-of {args[-1]!r} is not a date (YYYY-MM-DD).")
    assert "Traceback" not in res.output and "Usage:" not in res.output


def test_bad_choices_and_config_files_are_the_same_error(tmp_path: Path) -> None:
    role = CliRunner().invoke(app, ["apikey", "new", "--name", "x", "--role", "admin"])
    assert role.exit_code == 1
    assert role.output.startswith("error: --role must be one of read, write, score; got 'admin'.")
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels:\n  horizon_dayz: 30\n")
    for command in ("validate", "score", "report", "import --source x --mapping y --out z"):
        res = CliRunner().invoke(app, [*command.split(), "--config", str(bad)], terminal_width=200)
        assert res.exit_code == 1, (command, res.output)
        assert res.output.startswith(f"error: Config file {bad} has 1 unknown key:"), (command, res.output)
        assert "Did you mean `horizon_days`?" in res.output
    bad.write_text("labels:\n  horizon_days: soon\n")
    res = CliRunner().invoke(app, ["validate", "--config", str(bad)], terminal_width=200)
    assert res.exit_code == 1 and f"error: Config file {bad} is not valid:" in res.output
    assert "`labels.horizon_days`: Input should be a valid integer" in res.output and "(got 'soon')." in res.output
    missing = CliRunner().invoke(app, ["validate", "--config", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 1 and "does not exist." in missing.output
