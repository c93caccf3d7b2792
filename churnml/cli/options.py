"""Options shared by the `churnml` commands, declared once so every command spells them the same way."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default configs/default.yaml).")]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Input folder or .duckdb file (default: data.dir).")]


class Engine(StrEnum):
    """Where the feature expressions run (`features.engine`)."""

    duckdb = "duckdb"
    spark = "spark"


_EVERY = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$")


def parse_every(text: str) -> int:
    """'7d' / '2w' / '7' -> days."""
    m = _EVERY.match(text)
    if not m:
        raise ValueError(f"--every must look like 7d or 2w, got {text!r}")
    n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if n < 1:
        raise ValueError("--every must be at least 1 day")
    return n


def resolve_dates(
    as_of: str | None, every: str | None, start: str | None, end: str | None
) -> list[dt.date]:
    """As-of dates from either an explicit comma-separated list or --every/--from/--to."""
    from churnml.features.calendar import date_range, normalise_dates  # imports Ibis: not at `churnml --help`

    if as_of and (every or start or end):
        raise ValueError("give either --as-of or --every/--from/--to, not both")
    if as_of:
        return normalise_dates(x for x in as_of.split(",") if x.strip())
    if not (every and start and end):
        raise ValueError("give --as-of DATE[,DATE...] or all of --every, --from and --to")
    return date_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end), parse_every(every))
