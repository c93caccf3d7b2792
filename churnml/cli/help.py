"""Help text for the `churnml` commands: click's plain layout, with each command's summary wrapped, not cut.

Typer's rich panels print `<bool>` beside every flag and fold long choice lists mid-word; click's plain help
does neither, but cuts command summaries to one line with "...". `Group` lists them whole, wrapped.
"""

from __future__ import annotations

import click
from typer.core import TyperGroup


class Group(TyperGroup):
    """A command group whose command list shows each summary in full (wrapped to the terminal)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
