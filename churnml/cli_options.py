"""Options shared by the `churnml` commands, declared once so every command spells them the same way."""

from __future__ import annotations

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
