"""Reading the input tables (the I/O edge): a folder of Parquet/CSV files or a DuckDB database.

A table `name` in a folder may be `name.parquet`, `name.csv`, or a folder `name/` of Parquet part files.
Tables come back as Ibis tables on one backend connection (DuckDB by default, PySpark for the scale path),
so the same feature definitions run on either engine.

Files that cannot be read fail here or at the first scan with one `SourceError` line naming the table and the
file: a zero-byte or truncated Parquet file (its footer is checked when the table is opened), a CSV whose
header and rows disagree (the line and its field count are named, `csv_problem`).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq
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
        derived: table name -> contract columns validation filled because the source lacks them
            (`accounts.created_at`, see `churnml.data.derived`).
    """

    con: BaseBackend
    source: str
    tables: dict[str, ibis.Table] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
        return Tables(self.con, self.source, {**self.tables, **tables}, dict(self.paths), dict(self.derived))


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
    # Text timestamps with an offset are converted to UTC (validate._cast), whatever the machine's zone.
    con.raw_sql("SET TimeZone = 'UTC'")
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
                table = _read_csv(con, path, name)
            else:
                parts = sorted(path.glob("*.parquet")) if kind == "parquet_dir" else [path]
                for part in parts:
                    check_parquet(part, name)
                target = str(path / "*.parquet") if kind == "parquet_dir" else str(path)
                table = con.read_parquet(target, table_name=f"src_{name}")
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


def check_parquet(path: Path, table: str) -> None:
    """Refuse a zero-byte, truncated or otherwise unreadable Parquet file (its footer), naming file and table.

    Raises:
        SourceError: one line, e.g. "events: cannot read Parquet file .../part-2.parquet: the file is empty".
    """
    size = path.stat().st_size
    if size == 0:
        raise SourceError(f"{table}: cannot read Parquet file {path}: the file is empty (0 bytes)")
    try:
        pq.read_metadata(path)
    except (OSError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(
            f"{table}: cannot read Parquet file {path} ({size:,} bytes): truncated or not Parquet ({why})"
        ) from None


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def csv_problem(path: Path, delimiter: str | None = None) -> str | None:
    """The first line of a CSV file whose field count differs from the header's, in words; None if all agree.

    Reads the file with Python's csv module (quotes respected), so it is meant for the error path: when the
    engine's reader could not make sense of the file. The delimiter defaults to the one the header line uses
    most among `,` `;` tab `|`.
    """
    with _open_text(path) as f:
        header_line = f.readline()
        if not header_line:
            return "the file is empty (no header line)"
        delim = delimiter or max(",;\t|", key=header_line.count)
        f.seek(0)
        reader = csv.reader(f, delimiter=delim)
        header = next(reader)
        for row in reader:
            if row and len(row) != len(header):
                line = reader.line_num
                what = "fewer" if len(row) < len(header) else "more"
                end = f.read(1) == ""
                hint = " (the file ends in the middle of this row: truncated?)" if end and what == "fewer" else ""
                return (
                    f"line {line:,} has {len(row)} field(s), {what} than the header's {len(header)}{hint}"
                )
    return None


def _read_csv(con: BaseBackend, path: Path, table: str) -> ibis.Table:
    """Read a CSV lazily; a file whose rows do not fit its header is refused, naming the line."""
    try:
        t = con.read_csv(str(path), table_name=f"src_{table}")
    except Exception as exc:  # the engine's sniffer gave up: say why, in one line
        problem = csv_problem(path) or str(exc).splitlines()[0]
        raise SourceError(f"{table}: cannot read CSV file {path}: {problem}") from None
    problem = csv_misread(path, list(t.columns))
    if problem:
        raise SourceError(f"{table}: cannot read CSV file {path}: {problem}")
    return t


def csv_misread(path: Path, columns: list[str], delimiter: str | None = None) -> str | None:
    """What is wrong with a CSV whose columns, as the engine read them, are not its header line's; else None.

    A sniffer that saw rows disagree with the header falls back to one column, or takes another row for the
    header; then the rows are checked one by one (`csv_problem`) and the first bad line is named.
    """
    with _open_text(path) as f:
        header_line = f.readline().rstrip("\r\n")
    delim = delimiter or max(",;\t|", key=header_line.count)
    header = next(csv.reader([header_line], delimiter=delim), [])
    if [c.strip() for c in header] == [c.strip() for c in columns]:
        return None
    return csv_problem(path, delim)


def describe_read_error(exc: Exception, tables: Tables) -> str:
    """One line naming the table and file behind an engine error raised while scanning `tables`.

    Probes each table (error path only) to find the one that cannot be read, then says what is wrong with
    its file: a Parquet part that is not readable, or a CSV line whose field count is off.
    """
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for name, t in tables.tables.items():
        try:
            t.count().execute()
        except Exception:
            path = Path(tables.paths.get(name, ""))
            if path.suffix in {".csv", ".gz"} and path.is_file():
                problem = csv_problem(path)
                if problem:
                    return f"{name}: cannot read CSV file {path}: {problem}"
            if path.is_dir():
                for part in sorted(path.glob("*.parquet")):
                    try:
                        for _ in pq.ParquetFile(part).iter_batches():
                            pass
                    except Exception as part_exc:
                        return f"{name}: cannot read Parquet file {part}: {str(part_exc).splitlines()[0]}"
            return f"{name}: cannot read {path or tables.source}: {first}"
    return f"cannot read {tables.source}: {first}"
