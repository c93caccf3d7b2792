"""Opening a company's export (the I/O edge): a folder of files, a DuckDB file, or a database URL.

Every source table becomes a table or view of the same name on one in-process DuckDB connection (an Ibis
backend), so the mapping's SQL and `churnml.data.validate` run the same way whatever the origin:

* a folder: `name.csv` / `name.csv.gz` / `name.tsv` / `name.parquet` / a folder `name/` of Parquet parts;
  files are read lazily by DuckDB, never loaded into pandas;
* a `.duckdb` file: attached read-only;
* a database URL (``postgresql://user:pw@host:5432/db``, ``sqlite:///x.db``, ...): only the tables the
  mapping reads are copied into the DuckDB connection, Arrow-natively for PostgreSQL (ADBC), else through
  SQLAlchemy (`churnml.importer.database`).

Parquet footers are checked and CSV rows that do not fit their header are named by line
(`churnml.data.sources.check_parquet` / `csv_problem`), so a bad file is one line naming file and table.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
from ibis.backends import BaseBackend
from rich.console import Console

from churnml.data.sources import SourceError, check_parquet, csv_misread, csv_problem
from churnml.importer.database import copy_tables, hide_password
from churnml.importer.mapping import ReadOptions
from churnml.importer.sql import ident, literal

_SUFFIXES = (".csv.gz", ".csv", ".tsv", ".parquet")


@dataclass
class Source:
    """Source tables opened on one DuckDB connection.

    Attributes:
        con: the Ibis DuckDB backend holding one table or view per source table.
        location: what was opened (folder, file or URL with the password hidden).
        origins: source table name → where its rows came from.
        notes: how the source was read, where it matters (the database reader used).
    """

    con: BaseBackend
    location: str
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def columns(self, sql_from: str) -> list[str]:
        """Column names of a FROM item (a quoted table name or a parenthesised SELECT)."""
        rows = self.con.raw_sql(f"DESCRIBE SELECT * FROM {sql_from} AS src").fetchall()
        return [r[0] for r in rows]


def is_url(location: str) -> bool:
    """True for database URLs (``scheme://...``) as opposed to paths."""
    return "://" in location and not Path(location).exists()


def open_source(
    location: str | Path,
    needed: Sequence[str],
    options: ReadOptions | None = None,
    text_columns: Mapping[str, Collection[str]] | None = None,
    console: Console | None = None,
) -> Source:
    """Open the source tables `needed` by a mapping.

    Args:
        text_columns: per CSV table, columns read as text whatever the sniffer guesses, so that value
            maps and formats see the value as written ("Yes", "05/01/2024"), not DuckDB's guess (true, a date).
        console: where a database copy draws its progress bar (none without).

    Raises:
        SourceError: the location does not exist, or a needed table is not in it (available ones listed).
    """
    options = options or ReadOptions()
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")  # offsets in text timestamps become UTC (churnml.data.validate)
    text = str(location)
    if is_url(text):
        origins, notes = copy_tables(con, text, needed, options, console)
        return Source(con, hide_password(text), origins, notes)
    path = Path(location)
    if not path.exists():
        raise SourceError(f"import source not found: {path}")
    if path.is_file() and path.suffix in {".duckdb", ".db"}:
        return _open_duckdb(con, path, needed)
    if path.is_dir():
        return _open_folder(con, path, needed, options, text_columns or {})
    raise SourceError(f"import source must be a folder, a .duckdb file or a database URL: {path}")


def _folder_tables(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_dir() and any(p.glob("*.parquet")):
            found.setdefault(p.name, p)
            continue
        for suffix in _SUFFIXES:
            if p.is_file() and p.name.endswith(suffix):
                found.setdefault(p.name[: -len(suffix)], p)
                break
    return found


def _csv_options(options: ReadOptions, path: Path) -> str:
    opts = ["header = true"]
    if options.csv_null:
        opts.append(f"nullstr = [{', '.join(literal(v) for v in options.csv_null)}]")
    delim = options.csv_delimiter or ("\t" if path.name.endswith(".tsv") else None)
    if delim:
        opts.append(f"delim = {literal(delim)}")
    return ", ".join(opts)


def _missing(needed: Sequence[str], available: Sequence[str], where: str) -> SourceError:
    lost = [n for n in needed if n not in available]
    return SourceError(f"table(s) {lost} not found in {where} (found: {', '.join(available) or 'none'})")


def _open_folder(
    con: BaseBackend, folder: Path, needed: Sequence[str], options: ReadOptions,
    text_columns: Mapping[str, Collection[str]],
) -> Source:
    files = _folder_tables(folder)
    if any(n not in files for n in needed):
        raise _missing(needed, list(files), str(folder))
    src = Source(con, str(folder))
    for name in needed:
        path = files[name]
        where = literal(path.resolve().as_posix())
        if path.is_dir():
            for part in sorted(path.glob("*.parquet")):
                check_parquet(part, name)
            scan = f"read_parquet({literal((path.resolve() / '*.parquet').as_posix())})"
        elif path.name.endswith(".parquet"):
            check_parquet(path, name)
            scan = f"read_parquet({where})"
        else:
            opts = _csv_options(options, path)
            header = _csv_header(con, path, name, where, opts, options)
            as_text = [c for c in text_columns.get(name, ()) if c in header]
            if as_text:
                opts += ", types = {" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in as_text) + "}"
            scan = f"read_csv({where}, {opts})"
        con.raw_sql(f"CREATE VIEW {ident(name)} AS SELECT * FROM {scan}")
        src.origins[name] = str(path)
    return src


def _open_duckdb(con: BaseBackend, path: Path, needed: Sequence[str]) -> Source:
    con.raw_sql(f"ATTACH {literal(path.resolve().as_posix())} AS export (READ_ONLY)")
    rows = con.raw_sql(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'export'"
    ).fetchall()
    where = {name: schema for schema, name in rows}
    if any(n not in where for n in needed):
        raise _missing(needed, sorted(where), str(path))
    src = Source(con, str(path))
    for name in needed:
        con.raw_sql(f"CREATE VIEW {ident(name)} AS SELECT * FROM export.{ident(where[name])}.{ident(name)}")
        src.origins[name] = f"{path}:{name}"
    return src


def _csv_header(con: BaseBackend, path: Path, name: str, where: str, opts: str, options: ReadOptions) -> list[str]:
    """The CSV's columns as DuckDB reads them; a file whose rows do not fit its header is refused by line."""
    delim = options.csv_delimiter or ("\t" if path.name.endswith(".tsv") else None)
    try:
        header = [r[0] for r in con.raw_sql(f"DESCRIBE SELECT * FROM read_csv({where}, {opts})").fetchall()]
    except Exception as exc:  # the sniffer gave up: say why, in one line
        problem = csv_problem(path, delim) or str(exc).splitlines()[0]
        raise SourceError(f"{name}: cannot read CSV file {path}: {problem}") from None
    problem = csv_misread(path, header, delim)
    if problem:
        raise SourceError(f"{name}: cannot read CSV file {path}: {problem}")
    return header
