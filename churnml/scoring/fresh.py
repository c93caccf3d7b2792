"""A fresh score for one account from its raw signals: features now, with the batch definitions, then scored.

`FreshScorer` opens and validates the configured data source once (`churnml.data.load.load_data`, as batch
scoring does) and keeps it, with its DuckDB connection; each call computes one account's features with the same
Ibis expression as the weekly batch (`feature_set(..., accounts=[id])`: every table filtered to that account
before anything else). Building and compiling that expression costs seconds, running it tens of milliseconds, so
it is compiled once per as-of date and model (`churnml.scoring.prepared`: the account id is the prepared query's
parameter); what is fitted or chosen on every account's rows at that date (per-event-type columns, BG/NBD) is
then fixed for the date, as it is within one batch run. Features are computed for one as-of date (default: the
request's date, UTC; data strictly before that date's midnight is used, as in batch scoring) and scored with
`churnml.scoring.table.score_accounts`, so the row equals the one a
batch run at that date would store — including the change since the account's previous stored score — except
the band: a population of one has no base rate, so it is banded by the edges its last stored scoring used
(`stored_cut`).
Nothing is written: the score store keeps the weekly scorings (a fresh score is not "last week" for the next
run).

DuckDB only: with `features.engine: spark` one-account queries would pay Spark's job start-up each time, so
fresh scores are refused there with a clear message (batch scoring on Spark is unaffected).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.config import RiskBands
from churnml.scoring.bands import BandCut
from churnml.scoring.prepared import SENTINEL, PreparedQuery
from churnml.scoring.snapshot import Signature, snapshot_tables, source_signature
from churnml.scoring.table import score_accounts

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.data.sources import Tables
    from churnml.features.catalog import FeatureSpec


#: How many (as-of date, model features) feature queries stay compiled (today's, and a few explicit dates).
PREPARED_DATES = 8


class NotScorable(LookupError):
    """The account is unknown, or not active at the as-of date (nothing to score)."""


class FreshScorer:
    """Fresh one-account scores over the configured data source (opened once, reused).

    Args:
        settings: churnml settings (`data`, `labels`, `scoring`).
        data: input folder or .duckdb file (default `settings.data.dir`).
    """

    def __init__(self, settings: Settings, data: Path | None = None, *, snapshot: bool = True) -> None:
        self.settings = settings
        self._data = data
        self._snapshot = snapshot
        self._tables: Tables | None = None
        self._signature: Signature | None = None
        self._lock = threading.Lock()  # one DuckDB connection: one query at a time
        #: (as-of date, model features) -> the feature query compiled once and its registry entries.
        self._prepared: OrderedDict[tuple[Any, ...], tuple[PreparedQuery, tuple[FeatureSpec, ...]]] = OrderedDict()
        self._account_query: PreparedQuery | None = None

    def tables(self) -> Tables:
        """The validated input tables (loaded on first use; with `snapshot`, held in memory and loaded again,
        with the compiled queries dropped, whenever the source's files changed since)."""
        if self._tables is not None and self._snapshot and source_signature(self._tables) != self._signature:
            self._tables.con.disconnect()
            self._tables, self._prepared, self._account_query = None, OrderedDict(), None
        if self._tables is None:
            from churnml.data.load import load_data

            tables = load_data(self.settings, self._data).tables
            if tables.con.name == "pyspark":
                raise ValueError("fresh scores of one account run on DuckDB only; with features.engine: spark "
                                 "score in batch (all active accounts at an as-of date)")
            if self._snapshot:
                self._signature = source_signature(tables)  # before the copy: a later change shows as one
                tables = snapshot_tables(tables)
            self._tables = tables
        return self._tables

    def features(self, account_id: str, as_of: dt.date, model: Any = None) -> pd.DataFrame:
        """The account's feature row at `as_of` (the batch feature frame, one row); with `model`, the per-event-type
        columns are the model's (`feature_set(model_features=...)`), as in batch scoring.

        Raises:
            NotScorable: the account is unknown or not active at `as_of`.
        """
        return self._features(account_id, as_of, model)[0]

    def _query(self, as_of: dt.date, names: list[str] | None) -> tuple[PreparedQuery, tuple[FeatureSpec, ...]]:
        """The one-account feature query at `as_of`, built and compiled on first use of that date and feature
        list (the batch expression, `feature_set(..., accounts=[id])`, with the id as the query's parameter)."""
        from churnml.features import feature_set

        key = (as_of, tuple(names) if names else None)
        found = self._prepared.get(key)
        if found is None:
            tables = self.tables()
            fs = feature_set(tables, [as_of], self.settings.labels, accounts=[SENTINEL],
                             features=self.settings.features, model_features=names)
            found = self._prepared[key] = (PreparedQuery(tables.con, fs.table), tuple(fs.specs))
            while len(self._prepared) > PREPARED_DATES:
                self._prepared.popitem(last=False)[1][0].close()
        self._prepared.move_to_end(key)
        return found

    def _features(self, account_id: str, as_of: dt.date, model: Any) -> tuple[pd.DataFrame, tuple[FeatureSpec, ...]]:
        from churnml.features.pipeline import finalise_frame

        with self._lock:
            tables = self.tables()
            query, specs = self._query(as_of, list(getattr(model, "feature_names_", ())) or None)
            frame = finalise_frame(query.run(account_id), specs)
        if frame.empty:
            raise NotScorable(f"account {account_id!r} is unknown or not active at {as_of} in {tables.source}: "
                              "nothing to score")
        return frame, specs

    def _account(self, account_id: str) -> pd.DataFrame:
        with self._lock:
            if self._account_query is None:
                acc = self.tables()["accounts"]
                acc = acc.filter(acc.account_id.cast("string") == SENTINEL)
                expr = acc.select(*[c for c in ("account_id", "segment", "csm_id") if c in acc.columns])
                self._account_query = PreparedQuery(self.tables().con, expr)
            return self._account_query.run(account_id)

    def score(self, model: Any, *, model_name: str, model_version: int | str, account_id: str,
              as_of: dt.date | None = None, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """The score-table row (`churnml.scoring.store.COLUMNS`) of one account at `as_of`, computed now.

        Args:
            model: the `ChurnModel` to score with.
            model_name / model_version: recorded on the row.
            account_id: the account.
            as_of: the as-of date (default today, UTC).
            history: the account's stored scores (any columns of the score table, any dates); the latest one
                before `as_of` is the "previous" the change is measured from.

        Raises:
            NotScorable: the account is unknown or not active at `as_of`.
        """
        day = as_of or dt.datetime.now(dt.UTC).date()
        features, specs = self._features(account_id, day, model)
        previous = None
        if history is not None and len(history):
            before = history[pd.to_datetime(history["as_of"]).dt.date < day]
            previous = before.sort_values("as_of").tail(1) if len(before) else None
        cfg = self.settings.scoring
        return score_accounts(
            model, features, model_name=model_name, model_version=model_version, accounts=self._account(account_id),
            previous=previous, bands=cfg.bands, top_n=cfg.top_reasons, min_contribution=cfg.min_contribution,
            cut=stored_cut(previous, cfg.bands), specs=specs,
        )


def stored_cut(previous: pd.DataFrame | None, bands: RiskBands) -> BandCut:
    """The band edges for one account scored alone: those its last stored population scoring used, else the
    absolute thresholds (a population of one has no base rate of its own)."""
    if previous is not None and len(previous) and "band_rule" in previous.columns:
        cut = BandCut.from_json(previous["band_rule"].iloc[-1])
        if cut is not None:
            return cut
    return BandCut("absolute", bands.medium, bands.high)
