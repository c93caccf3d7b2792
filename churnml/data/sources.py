"""Reading the input tables (the I/O edge): a folder of Parquet/CSV files or a DuckDB database.

A table `name` in a folder may be `name.parquet`, `name.csv`, or a folder `name/` of Parquet part files.
Tables come back as Ibis tables on one backend connection (DuckDB by default, PySpark for the scale path),
so the same feature definitions run on either engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
from ibis.backends import BaseBackend

from churnml.data.contract import TABLES


class SourceError(ValueError):
    """The input source is missing, unreadable or lacks a required table."""


@dataclass
class Tables:
    """The input tables found in a source, as Ibis tables on one connection.

    Attributes:
        con: the Ibis backend the tables live on.
        source: where they were read from (for lineage and messages).
        tables: table name -> Ibis table, only for tables that exist in the source.
        paths: table name -> file/folder path or `duckdb:<table>`.
    """

    con: BaseBackend
    source: str
    tables: dict[str, ibis.Table] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def __getitem__(self, name: str) -> ibis.Table:
        try:
            return self.tables[name]
        except KeyError:
            raise SourceError(f"table {name!r} not found in {self.source}") from None

    def get(self, name: str) -> ibis.Table | None:
        """The table, or None when the (optional) table is absent."""
        return self.tables.get(name)

    def replace(self, **tables: ibis.Table) -> Tables:
        """A copy with some tables replaced (e.g. by their validated versions)."""
        return Tables(self.con, self.source, {**self.tables, **tables}, dict(self.paths))


def duckdb_connection(memory_limit: str | None = "3GB", threads: int | None = None) -> BaseBackend:
    """An in-process DuckDB connection with a memory cap, so large feature jobs spill instead of dying."""
    kwargs: dict[str, Any] = {}
    if memory_limit:
        kwargs["memory_limit"] = memory_limit
    if threads:
        kwargs["threads"] = threads
    con = ibis.duckdb.connect(**kwargs)
    # Keep insertion order only where asked; faster aggregations, and lets DuckDB spill large joins.
    con.raw_sql("SET preserve_insertion_order = false")
    return con


def _find_in_folder(folder: Path, name: str) -> tuple[Path, str] | None:
    candidates = [
        (folder / f"{name}.parquet", "parquet"),
        (folder / name, "parquet_dir"),
        (folder / f"{name}.csv", "csv"),
        (folder / f"{name}.csv.gz", "csv"),
    ]
    for path, kind in candidates:
        if kind == "parquet_dir":
            if path.is_dir() and any(path.glob("*.parquet")):
                return path, kind
        elif path.is_file():
            return path, kind
    return None


def open_tables(source: Path | str, con: BaseBackend | None = None) -> Tables:
    """Open the contract's tables found in `source` (folder or `.duckdb` file) on `con`.

    Missing optional tables are simply absent; a missing required table is reported by validation,
    which knows the label definition (subscriptions are optional for non-contractual labels).

    Raises:
        SourceError: the source does not exist or holds none of the contract's tables.
    """
    src = Path(source)
    if not src.exists():
        raise SourceError(f"data source not found: {src}")
    con = con if con is not None else duckdb_connection()
    found = Tables(con=con, source=str(src))
    if src.is_file() and src.suffix in {".duckdb", ".db"}:
        _open_duckdb_file(src, found)
    elif src.is_dir():
        for name in TABLES:
            hit = _find_in_folder(src, name)
            if hit is None:
                continue
            path, kind = hit
            if kind == "csv":
                table = con.read_csv(str(path), table_name=f"src_{name}")
            elif kind == "parquet_dir":
                table = con.read_parquet(str(path / "*.parquet"), table_name=f"src_{name}")
            else:
                table = con.read_parquet(str(path), table_name=f"src_{name}")
            found.tables[name] = table
            found.paths[name] = str(path)
    else:
        raise SourceError(f"data source must be a folder or a .duckdb file: {src}")
    if not found.tables:
        expected = ", ".join(TABLES)
        raise SourceError(f"no input tables found in {src} (expected some of: {expected})")
    return found


def _open_duckdb_file(path: Path, found: Tables) -> None:
    con = found.con
    if con.name != "duckdb":
        raise SourceError(f"a DuckDB database file needs the duckdb engine, not {con.name}: {path}")
    quoted = path.resolve().as_posix().replace("'", "''")
    con.raw_sql(f"ATTACH '{quoted}' AS src (READ_ONLY)")
    # information_schema rather than list_tables(): the latter breaks with duckdb 2.x under ibis 12.
    rows = con.raw_sql("SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'").fetchall()
    present = {r[0] for r in rows}
    for name in TABLES:
        if name in present:
            found.tables[name] = con.table(name, database="src")
            found.paths[name] = f"{path}:{name}"
