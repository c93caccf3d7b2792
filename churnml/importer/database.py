"""Copying the tables a mapping reads from a database URL into the import's DuckDB connection.

Two readers, chosen by `read.db_reader` in the mapping (default `auto`):

* `adbc` (PostgreSQL: ``postgresql://`` / ``postgres://``, with or without a ``+driver`` suffix): the ADBC
  PostgreSQL driver streams each table as Arrow record batches (PostgreSQL's binary COPY underneath) straight
  into DuckDB; no pandas, no per-row Python. benchmarks/import_db.py measures it against the SQLAlchemy path.
* `sqlalchemy` (every other URL SQLAlchemy understands: ``sqlite:///x.db``, ``mysql+pymysql://``, ...):
  pandas chunks of 100,000 rows through SQLAlchemy, as before. The import report says so in a note.

Both show a rich progress bar (rows copied per table, out of the table's row count) when given a console.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ibis.backends import BaseBackend
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from churnml.data.sources import SourceError
from churnml.importer.mapping import ReadOptions
from churnml.importer.sql import ident, literal

_CHUNK_ROWS = 100_000
_POSTGRES = ("postgresql", "postgres")


def scheme(url: str) -> str:
    """The URL's scheme without a driver suffix: ``postgresql+psycopg://`` → ``postgresql``."""
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def reader_for(url: str, options: ReadOptions) -> str:
    """`adbc` or `sqlalchemy` for this URL under `read.db_reader`.

    Raises:
        SourceError: `adbc` was asked for a database it has no driver for here.
    """
    if options.db_reader == "sqlalchemy":
        return "sqlalchemy"
    if scheme(url) in _POSTGRES:
        return "adbc"
    if options.db_reader == "adbc":
        raise SourceError(f"read.db_reader: adbc reads PostgreSQL only here, not {scheme(url)}:// URLs")
    return "sqlalchemy"


def hide_password(url: str) -> str:
    """The URL with its password replaced by ***, for messages and reports."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show the scheme only
        return url.split("://", 1)[0] + "://…"


def sqlalchemy_url(url: str) -> str:
    """Plain ``postgresql://`` URLs use the psycopg (3) driver under SQLAlchemy."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def libpq_url(url: str) -> str:
    """A URL libpq (and so ADBC) reads: the ``+driver`` suffix dropped, ``postgres://`` as is."""
    head, rest = url.split("://", 1)
    return f"{head.split('+', 1)[0]}://{rest}"


@contextmanager
def _progress(console: Console | None) -> Iterator[Progress | None]:
    if console is None:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        yield bar


def copy_tables(
    con: BaseBackend, url: str, needed: Sequence[str], options: ReadOptions, console: Console | None = None
) -> tuple[dict[str, str], list[str]]:
    """Copy the tables `needed` from `url` into DuckDB tables of the same names on `con`.

    Returns:
        (table → where its rows came from, notes for the import report).

    Raises:
        SourceError: the URL cannot be used or read, or a needed table is not there (available ones listed).
    """
    how = reader_for(url, options)
    shown = hide_password(url)
    with _progress(console) as bar:
        if how == "adbc":
            _copy_adbc(con, url, shown, needed, options, bar)
            notes = ["read with the ADBC PostgreSQL driver (Arrow record batches, binary COPY)"]
        else:
            _copy_sqlalchemy(con, url, shown, needed, options, bar)
            why = "read.db_reader: sqlalchemy" if options.db_reader == "sqlalchemy" else (
                f"no Arrow-native driver for {scheme(url)}:// here")
            notes = [f"read through SQLAlchemy in pandas chunks of {_CHUNK_ROWS:,} rows ({why}); slower"]
    return {name: f"{shown} table {name}" for name in needed}, notes


def _missing(needed: Sequence[str], available: Sequence[str], where: str) -> SourceError:
    lost = [n for n in needed if n not in available]
    return SourceError(f"table(s) {lost} not found in {where} (found: {', '.join(available) or 'none'})")


def _copy_adbc(
    con: BaseBackend, url: str, shown: str, needed: Sequence[str], options: ReadOptions, bar: Progress | None
) -> None:
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa

    schema = literal(options.schema_name) if options.schema_name else "current_schema()"
    try:
        with pg.connect(libpq_url(url)) as db, db.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables "
                f"WHERE table_schema = {schema} ORDER BY table_name"
            )
            available = [r[0] for r in cur.fetchall()]
            if any(n not in available for n in needed):
                raise _missing(needed, available, shown)
            for name in needed:
                qualified = ".".join(ident(p) for p in (options.schema_name, name) if p)
                task = bar.add_task(f"{name}", total=_row_estimate(cur, qualified)) if bar is not None else None
                cur.execute(f"SELECT * FROM {qualified}")
                reader = cur.fetch_record_batch()

                def batches(reader: Any = reader, task: Any = task) -> Iterator[pa.RecordBatch]:
                    for batch in reader:
                        if bar is not None:
                            bar.advance(task, batch.num_rows)
                        yield batch

                stream = pa.RecordBatchReader.from_batches(reader.schema, batches())
                con.con.register("_stream", stream)
                try:
                    con.raw_sql(f"CREATE TABLE {ident(name)} AS SELECT * FROM _stream")
                finally:
                    con.con.unregister("_stream")
                if bar is not None:  # the estimate made exact
                    done = bar.tasks[task].completed  # type: ignore[index]
                    bar.update(task, total=done, completed=done)  # type: ignore[arg-type]
    except adbc_driver_manager.Error as exc:
        raise SourceError(f"cannot read from {shown}: {_first_line(exc)}") from None


def _row_estimate(cur: Any, qualified: str) -> int:
    """Rows in a PostgreSQL table for the progress bar, free where the server knows: the planner's figure when
    the table was analysed, else the statistics collector's live-row count (kept from inserts, no ANALYZE
    needed); an exact count (one scan) only when neither knows (a view, a table the collector has not seen)."""
    quoted = qualified.replace("'", "''")
    cur.execute(
        "SELECT c.reltuples::bigint, coalesce(s.n_live_tup, 0) FROM pg_class c "
        f"LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = '{quoted}'::regclass"
    )
    planner, live = (int(v) for v in cur.fetchone())
    if planner > 0 or live > 0:
        return planner if planner > 0 else live
    cur.execute(f"SELECT count(*) FROM {qualified}")
    return int(cur.fetchone()[0])


def _copy_sqlalchemy(
    con: BaseBackend, url: str, shown: str, needed: Sequence[str], options: ReadOptions, bar: Progress | None
) -> None:
    import pandas as pd
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(sqlalchemy_url(url))
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise SourceError(f"cannot use database URL {shown}: {exc}") from None
    try:
        with engine.connect() as db:
            available = sa.inspect(db).get_table_names(schema=options.schema_name)
            if any(n not in available for n in needed):
                raise _missing(needed, sorted(available), shown)
            quote = db.dialect.identifier_preparer.quote
            for name in needed:
                qualified = ".".join(quote(p) for p in (options.schema_name, name) if p)
                total = int(db.execute(sa.text(f"SELECT count(*) FROM {qualified}")).scalar() or 0)
                task = bar.add_task(f"{name}", total=total) if bar is not None else None
                first = True
                for chunk in pd.read_sql_table(name, db, schema=options.schema_name, chunksize=_CHUNK_ROWS):
                    _append(con, name, chunk, first)
                    first = False
                    if bar is not None:
                        bar.advance(task, len(chunk))  # type: ignore[arg-type]
                if first:  # empty table: keep its columns
                    empty = pd.read_sql_query(sa.text(f"SELECT * FROM {qualified} WHERE 1 = 0"), db)
                    _append(con, name, empty, True)
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"cannot read from {shown}: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def _append(con: BaseBackend, name: str, frame: Any, create: bool) -> None:
    con.con.register("_chunk", frame)
    try:
        verb = f"CREATE TABLE {ident(name)} AS" if create else f"INSERT INTO {ident(name)}"
        con.raw_sql(f"{verb} SELECT * FROM _chunk")
    finally:
        con.con.unregister("_chunk")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
