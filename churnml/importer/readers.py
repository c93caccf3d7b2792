"""Opening a company's export (the I/O edge): a folder of files, a DuckDB file, or a database URL.

Every source table becomes a table or view of the same name on one in-process DuckDB connection (an Ibis
backend), so the mapping's SQL and `churnml.data.validate` run the same way whatever the origin:

* a folder: `name.csv` / `name.csv.gz` / `name.tsv` / `name.parquet` / a folder `name/` of Parquet parts;
  files are read lazily by DuckDB, never loaded into pandas;
* a `.duckdb` file: attached read-only;
* a database URL that SQLAlchemy understands (``postgresql://user:pw@host:5432/db``, ``sqlite:///x.db``,
  ...): only the tables the mapping reads are copied, in chunks, into the DuckDB connection. Plain
  ``postgresql://`` URLs use the psycopg (3) driver.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
from ibis.backends import BaseBackend

from churnml.data.sources import SourceError
from churnml.importer.mapping import ReadOptions
from churnml.importer.sql import ident, literal

_CHUNK_ROWS = 100_000
_SUFFIXES = (".csv.gz", ".csv", ".tsv", ".parquet")


@dataclass
class Source:
    """Source tables opened on one DuckDB connection.

    Attributes:
        con: the Ibis DuckDB backend holding one table or view per source table.
        location: what was opened (folder, file or URL with the password hidden).
        origins: source table name → where its rows came from.
    """

    con: BaseBackend
    location: str
    origins: dict[str, str] = field(default_factory=dict)

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
) -> Source:
    """Open the source tables `needed` by a mapping.

    Args:
        text_columns: per CSV table, columns read as text whatever the sniffer guesses, so that value
            maps and formats see the value as written ("Yes", "05/01/2024"), not DuckDB's guess (true, a date).

    Raises:
        SourceError: the location does not exist, or a needed table is not in it (available ones listed).
    """
    options = options or ReadOptions()
    con = ibis.duckdb.connect()
    text = str(location)
    if is_url(text):
        return _open_url(con, text, needed, options)
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
            scan = f"read_parquet({literal((path.resolve() / '*.parquet').as_posix())})"
        elif path.name.endswith(".parquet"):
            scan = f"read_parquet({where})"
        else:
            opts = _csv_options(options, path)
            header = [r[0] for r in con.raw_sql(f"DESCRIBE SELECT * FROM read_csv({where}, {opts})").fetchall()]
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


def _sqlalchemy_url(url: str) -> str:
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _open_url(con: BaseBackend, url: str, needed: Sequence[str], options: ReadOptions) -> Source:
    import pandas as pd
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(_sqlalchemy_url(url))
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise SourceError(f"cannot use database URL {_hide_password(url)}: {exc}") from None
    shown = _hide_password(url)
    try:
        with engine.connect() as db:
            available = sa.inspect(db).get_table_names(schema=options.schema_name)
            if any(n not in available for n in needed):
                raise _missing(needed, sorted(available), shown)
            src = Source(con, shown)
            for name in needed:
                first = True
                for chunk in pd.read_sql_table(name, db, schema=options.schema_name, chunksize=_CHUNK_ROWS):
                    con.con.register("_chunk", chunk)
                    if first:
                        con.raw_sql(f"CREATE TABLE {ident(name)} AS SELECT * FROM _chunk")
                        first = False
                    else:
                        con.raw_sql(f"INSERT INTO {ident(name)} SELECT * FROM _chunk")
                    con.con.unregister("_chunk")
                if first:  # empty table: keep its columns
                    quote = db.dialect.identifier_preparer.quote
                    qualified = ".".join(quote(p) for p in (options.schema_name, name) if p)
                    empty = pd.read_sql_query(sa.text(f"SELECT * FROM {qualified} WHERE 1 = 0"), db)
                    con.con.register("_chunk", empty)
                    con.raw_sql(f"CREATE TABLE {ident(name)} AS SELECT * FROM _chunk")
                    con.con.unregister("_chunk")
                src.origins[name] = f"{shown} table {name}"
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"cannot read from {shown}: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return src


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show the scheme only
        return url.split("://", 1)[0] + "://…"
