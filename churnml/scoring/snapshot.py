"""The input tables of fresh scores held in DuckDB memory, ordered by account, reloaded when the source changes.

Why (profiled on the serving benchmark's world, 600 accounts, 3.2M events in Parquet): a one-account feature query
over the source files spent about two thirds of its execution decoding Parquet — the files are not ordered by
account, so DuckDB cannot skip row groups and filters every row of `events` on each of its three scans. The same
rows copied once into DuckDB tables ordered by `account_id` let each scan skip all but the account's row groups
(min/max zone maps): execution fell from ~190 ms to ~40 ms of CPU per query.

Contract: `snapshot_tables` copies every validated table as it is (same columns, types and rows; only the
physical order differs), so features computed on the snapshot equal those of batch scoring on the source.
Freshness: `source_signature` (path, size and modification time of each file the tables are read from) is
taken before the copy; a caller compares it on every request and reloads when it differs, so a fresh score
never reads older data than the source holds at the request (a file replaced during a copy shows as a changed
signature at the next request).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from churnml.data.sources import Tables

#: A source's state: (file, size in bytes, modification time in ns) per file read; -1, -1 for a missing file.
Signature = tuple[tuple[str, int, int], ...]


def _files(tables: Tables) -> list[Path]:
    src = Path(tables.source)
    if src.is_file():  # a DuckDB database file (and its write-ahead log)
        return [src, src.with_name(src.name + ".wal")]
    files: list[Path] = []
    for p in sorted(set(tables.paths.values())):
        path = Path(p)
        files += sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    return files


def source_signature(tables: Tables) -> Signature:
    """The state of the files `tables` are read from (cheap: one `stat` per file)."""
    out = []
    for f in _files(tables):
        try:
            st = f.stat()
            out.append((str(f), st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((str(f), -1, -1))
    return tuple(out)


#: DuckDB settings of a snapshot's connection. A one-account query reads a few thousand rows but is planned anew
#: each time (DuckDB 2.0 re-plans prepared statements too): planning is most of its cost. One thread, and no
#: projection pull-up or join reordering (the two costliest optimizer passes, ~30 ms on the benchmark's query,
#: which pay off on large inputs only), took ~20% off its CPU time; the results are the same (they only change
#: how the plan is built, never what it computes).
ONE_ACCOUNT_SETTINGS = ("SET threads = 1", "SET disabled_optimizers = 'projection_pullup,join_order'")


def snapshot_tables(tables: Tables) -> Tables:
    """`tables` copied into temporary DuckDB tables on their own connection, each table with an `account_id`
    ordered by it (what lets a one-account query skip the other accounts' rows); the connection is then set for
    one-account queries (`ONE_ACCOUNT_SETTINGS`), so it must be one only the snapshot's queries use."""
    con = tables.con
    tag = uuid.uuid4().hex[:8]
    copied = {}
    for name, table in tables.tables.items():
        ordered = table.order_by("account_id") if "account_id" in table.columns else table
        copied[name] = con.create_table(f"fresh_{name}_{tag}", ordered, temp=True)
    for setting in ONE_ACCOUNT_SETTINGS:
        con.raw_sql(setting)
    return tables.replace(**copied)

