"""Read-only queries on the score store (`churnml.scoring.store`) for the API and the web page.

Each call opens a short read-only DuckDB connection (the batch job may write between requests) and uses
bound parameters; sort keys and directions come from a fixed list, never from the request text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from churnml.config import RiskBands
from churnml.scoring.bands import BandCut
from churnml.scoring.store import ADDED_COLUMNS, COLUMNS, TABLE, ScoreStore

#: Days to renewal stored with each scoring's key signals (`churnml.scoring.table.KEY_SIGNALS`).
DAYS_TO_RENEWAL = "TRY_CAST(json_extract_string(signals, '$.days_to_renewal') AS DOUBLE)"

#: Public sort key -> SQL expression. "change" is the change since the previous scoring (this week's move);
#: "renewal" the days left to the renewal date; "name" the account's name (its id where it has none).
SORTS: dict[str, str] = {
    "risk": "churn_probability",
    "mrr_at_risk": "mrr_at_risk",
    "change": "change_points",
    "mrr": "mrr",
    "account_id": "account_id",
    "renewal": DAYS_TO_RENEWAL,
    "name": "coalesce(account_name, account_id)",
}


def _fill_added_columns(con: duckdb.DuckDBPyConnection) -> None:
    """A store written before some columns existed (`churnml.scoring.store.ADDED_COLUMNS`) reads with them null:
    the service opens the file read-only, so the batch job adds them at its next write, not the reader."""
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                      [TABLE]).fetchall()}
    absent = [c for c in ADDED_COLUMNS if c not in have]
    if not absent:
        return
    db = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    nulls = ", ".join(f'CAST(NULL AS {COLUMNS[c].replace(" NOT NULL", "")}) AS "{c}"' for c in absent)
    con.execute(f'CREATE TEMP VIEW {TABLE} AS SELECT *, {nulls} FROM "{db}".main.{TABLE}')


class StoreUnavailable(RuntimeError):
    """The score store cannot be read right now (e.g. the batch job holds the file)."""


@dataclass(frozen=True)
class Filters:
    """Which accounts of the latest scoring a view lists; `query` matches a part of the id or name (any case)."""

    band: str | None = None
    segment: str | None = None
    csm: str | None = None
    query: str | None = None

    def where(self, as_of: dt.date, *, band: bool = True) -> tuple[str, list[Any]]:
        """The SQL condition and its bound parameters (`band=False`: every band, for the band counts)."""
        where, params = ["as_of = ?"], [as_of]
        for col, value in (("risk_band", self.band if band else None), ("segment", self.segment),
                           ("csm_id", self.csm)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        if self.query:
            like = "%" + self.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(account_id ILIKE ? ESCAPE '\\' OR coalesce(account_name, '') ILIKE ? ESCAPE '\\')")
            params += [like, like]
        return " AND ".join(where), params


@dataclass(frozen=True)
class BandTotal:
    """Accounts of one risk band in a view, with their MRR and MRR at risk."""

    band: str
    accounts: int
    mrr: float
    mrr_at_risk: float


@dataclass(frozen=True)
class Page:
    as_of: dt.date | None
    total: int
    rows: list[dict[str, Any]]


class StoreReader:
    """Queries on `<work_dir>/scores.duckdb`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cut: tuple[tuple[Any, ...], BandCut] | None = None

    @classmethod
    def from_work_dir(cls, work_dir: Path) -> StoreReader:
        return cls(ScoreStore.from_work_dir(work_dir).path)

    def _query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise StoreUnavailable(f"the score store cannot be opened: {type(exc).__name__}") from exc
        try:
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                 [TABLE]).fetchone()
            if not exists or not exists[0]:
                return []
            _fill_added_columns(con)
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()

    def latest_as_of(self) -> dt.date | None:
        rows = self._query(f"SELECT max(as_of) AS d FROM {TABLE}", [])
        return rows[0]["d"] if rows else None

    def latest_cut(self, bands: RiskBands) -> BandCut:
        """The band edges of the latest scoring (so an account scored by the API is banded like its population),
        or `bands`' absolute thresholds when none is stored. Cached while the file is unchanged (POST /v1/score
        asks on every request)."""
        try:
            stat = self.path.stat()
            key: tuple[Any, ...] = (stat.st_mtime_ns, stat.st_size, bands.medium, bands.high)
        except OSError:
            key = (None, None, bands.medium, bands.high)
        if self._cut is not None and self._cut[0] == key:
            return self._cut[1]
        try:
            rows = self._query(f"SELECT band_rule FROM {TABLE} WHERE as_of = (SELECT max(as_of) FROM {TABLE}) "
                               "AND band_rule IS NOT NULL LIMIT 1", [])
        except duckdb.BinderException:  # a store written before bands were recorded
            rows = []
        cut = BandCut.from_json(rows[0]["band_rule"]) if rows else None
        cut = cut or BandCut("absolute", bands.medium, bands.high)
        self._cut = (key, cut)
        return cut

    def page(self, filters: Filters, sort: str = "risk", descending: bool = True, limit: int = 50,
             offset: int = 0) -> Page:
        """The latest scoring's accounts, filtered, sorted (nulls last, then account id) and paged."""
        as_of = self.latest_as_of()
        if as_of is None:
            return Page(None, 0, [])
        cond, params = filters.where(as_of)
        total = self._query(f"SELECT count(*) AS n FROM {TABLE} WHERE {cond}", params)[0]["n"]
        col = SORTS[sort]
        direction = "DESC" if descending else "ASC"
        rows = self._query(
            f"SELECT * FROM {TABLE} WHERE {cond} ORDER BY {col} {direction} NULLS LAST, account_id "
            "LIMIT ? OFFSET ?", [*params, limit, offset],
        )
        return Page(as_of, int(total), rows)

    def band_totals(self, filters: Filters) -> list[BandTotal]:
        """Per risk band (high, medium, low), the accounts of the latest scoring matching `filters` other than
        the band, with their MRR and MRR at risk (zeros for a band with none)."""
        as_of = self.latest_as_of()
        found: dict[str, dict[str, Any]] = {}
        if as_of is not None:
            cond, params = filters.where(as_of, band=False)
            rows = self._query(f"SELECT risk_band, count(*) AS n, coalesce(sum(mrr), 0) AS mrr, "
                               f"coalesce(sum(mrr_at_risk), 0) AS at_risk FROM {TABLE} WHERE {cond} "
                               "GROUP BY risk_band", params)
            found = {r["risk_band"]: r for r in rows}
        return [BandTotal(b, int(found[b]["n"]), float(found[b]["mrr"]), float(found[b]["at_risk"]))
                if b in found else BandTotal(b, 0, 0.0, 0.0) for b in ("high", "medium", "low")]

    def history(self, account_id: str) -> list[dict[str, Any]]:
        """Every stored scoring of one account, oldest first (empty if unknown)."""
        return self._query(f"SELECT * FROM {TABLE} WHERE account_id = ? ORDER BY as_of", [account_id])

    def facets(self) -> dict[str, list[str]]:
        """Segments and CSMs (id -> name, the id where none is stored) in the latest scoring (the page's
        filters)."""
        as_of = self.latest_as_of()
        if as_of is None:
            return {"segment": [], "csm": {}}
        seg = self._query(f"SELECT DISTINCT segment AS v FROM {TABLE} WHERE as_of = ? AND segment IS NOT NULL "
                          "ORDER BY 1", [as_of])
        csm = self._query(f"SELECT csm_id AS v, max(csm_name) AS name FROM {TABLE} WHERE as_of = ? AND csm_id IS "
                          "NOT NULL GROUP BY csm_id ORDER BY coalesce(max(csm_name), csm_id)", [as_of])
        return {"segment": [r["v"] for r in seg], "csm": {r["v"]: r["name"] or r["v"] for r in csm}}
