"""Every `churnml` command that reads settings takes `--config` (the README promises it), `import` included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer.main
from typer.testing import CliRunner

from churnml.cli.app import app

# Commands that read no settings at all: they print a new key or the hash of one, for the config file.
CONFIG_FREE = {"apikey new", "apikey hash"}


def _commands(cmd: object = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    cmd = cmd if cmd is not None else typer.main.get_command(app)
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield path
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


COMMANDS = [" ".join(p) for p in _commands()]


def test_the_walk_finds_every_command() -> None:
    assert {"import", "validate", "features", "train", "score", "models list"} <= set(COMMANDS)
    assert set(COMMANDS) >= CONFIG_FREE  # the exemptions name real commands


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in CONFIG_FREE])
def test_command_help_offers_config(command: str) -> None:
    res = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "--config" in res.output, f"churnml {command} has no --config"

