"""Weekly batch scoring, the job at the edge: every account active at an as-of date, scored, explained, stored.

`run_scoring` computes the features with the training definitions (`feature_set` + `to_frame`), loads the model
the alias points to from the registry (pinned to that version for the whole run), reads the previous scores
from the `ScoreStore`, writes the new ones (replacing the as-of date, atomically) and returns a portfolio
summary. The pure part is `churnml.scoring.table`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.config import ScoringConfig
from churnml.scoring.table import PortfolioSummary, rebanded, score_accounts, summarise

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from churnml.config import Settings
    from churnml.data.load import LoadedData
    from churnml.data.sources import Tables
    from churnml.scoring.store import ScoreStore


@dataclass(frozen=True)
class ScoringRun:
    """The result of `run_scoring`."""

    scores: pd.DataFrame
    summary: PortfolioSummary
    store: Path
    model_uri: str


def model_for_alias(settings: Settings, name: str, alias: str, hint: str,
                    version: int | None = None) -> tuple[Any, int, str]:
    """The `ChurnModel` registered as `name` behind `alias` (or the given `version`), its version and pinned URI.

    The URI names the version, not the alias: the alias may move while a scoring run is going.

    Raises:
        ValueError: no version has the alias (`hint` says what to do about it).
    """
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.model.pyfunc import load_churn_model

    if version is None:
        version = ModelRegistry.from_settings(settings, name=name).aliases().get(alias)
    if version is None:
        raise ValueError(f"no version of model {name!r} has the alias {alias!r}: {hint}")
    uri = f"models:/{name}/{version}"
    return load_churn_model(uri), version, uri


def account_attributes(tables: Tables) -> Table:
    """`account_id` with the account columns the score table keeps beside the score: `segment`, `csm_id`, and
    the names shown with the ids (`accounts.name` as `account_name`, `csms.name` as `csm_name`), where present."""
    acc = tables["accounts"]
    acc = acc.select(*[c for c in ("account_id", "segment", "csm_id", "name") if c in acc.columns])
    if "name" in acc.columns:
        acc = acc.rename(account_name="name")
    csms = tables.get("csms")
    if csms is not None and "csm_id" in acc.columns:
        names = csms.select(csms.csm_id.cast("string").name("_csm"), csms["name"].name("csm_name"))
        acc = acc.left_join(names, acc.csm_id.cast("string") == names._csm).drop("_csm")
    return acc


def run_scoring(
    settings: Settings,
    as_of: dt.date | None = None,
    *,
    alias: str | None = None,
    version: int | None = None,
    data: Path | None = None,
    config: ScoringConfig | None = None,
    store: ScoreStore | None = None,
    loaded: LoadedData | None = None,
    features: pd.DataFrame | None = None,
) -> ScoringRun:
    """Score every account active at `as_of` with the model behind `alias` and store the scores.

    A caller that has already validated the data or built the as-of feature frame (the weekly job) passes them
    on, so neither is done twice.

    Args:
        settings: churnml settings (work_dir, data, labels, registry name).
        as_of: the scoring date (features use data strictly before it); default: the end of the data
            (`churnml.data.dates.default_as_of`).
        alias: registry alias (default `config.alias`, i.e. champion).
        version: score with this registered version instead of the alias's (the weekly job pins the version
            it promoted).
        data: input folder or .duckdb file (default `settings.data.dir`); read only when `loaded` is None.
        config: scoring settings (default: `settings.scoring`).
        store: where scores go (default `<work_dir>/scores.duckdb`).
        loaded: the validated tables (`churnml.data.load.load_data`), if the caller holds them.
        features: the feature frame at `as_of` (`to_frame(feature_set(tables, [as_of], settings.labels))`), if
            the caller holds it; scored in-process on whichever engine built it.

    Raises:
        ValueError: no model has the alias, or no account is active at `as_of`.
        PastDataEnd: `as_of` is after the end of the data (a ValueError).
        StoreLockedError: another process holds the score store (a ValueError; after `store_wait_s`).
    """
    from churnml.data.dates import resolve_as_of
    from churnml.data.load import load_data
    from churnml.features import feature_set, to_frame
    from churnml.scoring.store import ScoreStore

    cfg = config or settings.scoring
    name = settings.registry.name
    loaded = loaded if loaded is not None else load_data(settings, data)
    as_of = resolve_as_of(loaded.tables, as_of, "score")  # before the model loads
    model, version, uri = model_for_alias(settings, name, alias or cfg.alias, "train and promote one first "
                                          "(see `churnml models list`)", version=version)
    store = store or ScoreStore.from_work_dir(settings.work_dir, wait_s=cfg.store_wait_s)
    store.check_writable()  # a store held by another process fails here, before the scoring work
    acc = account_attributes(loaded.tables)
    if features is None and loaded.tables.con.name == "pyspark":
        scores = _score_with_spark(settings, loaded.tables, as_of, model, name, version, acc, store, cfg)
    else:
        needs = list(getattr(model, "feature_names_", ()))
        specs = None
        if features is None or any(n not in features.columns for n in needs):
            # a frame built for another model (e.g. other per-event-type columns) is built again for this one
            fs = feature_set(loaded.tables, [as_of], settings.labels, features=settings.features,
                             model_features=needs or None)
            features, specs = to_frame(fs), fs.specs
        if features.empty:
            raise ValueError(f"no account is active at {as_of}: nothing to score")
        scores = score_accounts(
            model, features, model_name=name, model_version=version, accounts=acc.to_pandas(),
            previous=store.previous(as_of), bands=cfg.bands, top_n=cfg.top_reasons,
            min_contribution=cfg.min_contribution, specs=specs,
        )
    store.write(scores)
    return ScoringRun(scores, summarise(scores, cfg.movers), store.path, uri)


def _score_with_spark(settings: Settings, tables: Tables, as_of: dt.date, model: Any, name: str, version: int,
                      accounts: Table, store: ScoreStore, cfg: ScoringConfig) -> pd.DataFrame:
    """`features.engine: spark`: features and scoring run on Spark (`churnml.scoring.spark`). The executors write
    the score table as Parquet partitioned by as_of to `<work_dir>/scores_spark/`; Spark reads this date's
    partition back for the embedded score store, which the API, report and CRM push read."""
    from churnml.features import feature_set
    from churnml.scoring.spark import (
        previous_on_spark,
        read_scores_spark,
        rewrite_scores_spark,
        score_on_spark,
        spark_frame,
        write_scores_spark,
    )

    con = tables.con
    fs = feature_set(tables, [as_of], settings.labels, features=settings.features,
                     model_features=list(getattr(model, "feature_names_", ())) or None)
    features = spark_frame(con, fs.table, "churnml_score_features")
    session = features.sparkSession
    scored = score_on_spark(
        features, model, fs.specs, model_name=name, model_version=version,
        previous=previous_on_spark(session, store.previous(as_of)),
        accounts=spark_frame(con, accounts, "churnml_score_accounts"),
        bands=cfg.bands, top_n=cfg.top_reasons, min_contribution=cfg.min_contribution,
    )
    out = Path(settings.work_dir) / "scores_spark"
    write_scores_spark(scored, out)
    scores = read_scores_spark(session, out, as_of)
    if scores.empty:
        raise ValueError(f"no account is active at {as_of}: nothing to score")
    if cfg.bands.rule == "absolute":
        return scores
    # partitions banded their own rows; relative and capacity bands need the whole date's population
    scores = rebanded(scores, cfg.bands)
    rewrite_scores_spark(session, scores, out)
    return scores
