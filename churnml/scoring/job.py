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
from churnml.scoring.table import PortfolioSummary, score_accounts, summarise

if TYPE_CHECKING:
    from churnml.config import Settings
    from churnml.scoring.store import ScoreStore



@dataclass(frozen=True)
class ScoringRun:
    """The result of `run_scoring`."""

    scores: pd.DataFrame
    summary: PortfolioSummary
    store: Path
    model_uri: str


def model_for_alias(settings: Settings, name: str, alias: str, hint: str) -> tuple[Any, int, str]:
    """The `ChurnModel` registered as `name` behind `alias`, its version and its pinned URI.

    The URI names the version, not the alias: the alias may move while a scoring run is going.

    Raises:
        ValueError: no version has the alias (`hint` says what to do about it).
    """
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.model.pyfunc import load_churn_model

    version = ModelRegistry.from_work_dir(settings.work_dir, name=name).aliases().get(alias)
    if version is None:
        raise ValueError(f"no version of model {name!r} has the alias {alias!r}: {hint}")
    uri = f"models:/{name}/{version}"
    return load_churn_model(uri), version, uri


def run_scoring(
    settings: Settings,
    as_of: dt.date,
    *,
    alias: str | None = None,
    data: Path | None = None,
    config: ScoringConfig | None = None,
    store: ScoreStore | None = None,
) -> ScoringRun:
    """Score every account active at `as_of` with the model behind `alias` and store the scores.

    Args:
        settings: churnml settings (work_dir, data, labels, registry name).
        as_of: the scoring date (features use data strictly before it).
        alias: registry alias (default `config.alias`, i.e. champion).
        data: input folder or .duckdb file (default `settings.data.dir`).
        config: scoring settings (default: `settings.scoring` if present, else defaults).
        store: where scores go (default `<work_dir>/scores.duckdb`).

    Raises:
        ValueError: no model has the alias, or no account is active at `as_of`.
        StoreLockedError: another process holds the score store (a ValueError; after `store_wait_s`).
    """
    from churnml.data.load import load_data
    from churnml.features import feature_set, to_frame
    from churnml.scoring.store import ScoreStore

    cfg = config or getattr(settings, "scoring", None) or ScoringConfig()
    store = store or ScoreStore.from_work_dir(settings.work_dir, wait_s=cfg.store_wait_s)
    store.check_writable()  # a store held by another process fails here, before the scoring work
    name = settings.registry.name
    model, version, uri = model_for_alias(settings, name, alias or cfg.alias, "train and promote one first "
                                          "(see `churnml models list`)")

    loaded = load_data(settings, data)
    acc = loaded.tables["accounts"]
    acc = acc.select(*[c for c in ("account_id", "segment", "csm_id") if c in acc.columns])
    if loaded.tables.con.name == "pyspark":
        scores = _score_with_spark(settings, loaded.tables, as_of, model, name, version, acc, store, cfg)
    else:
        features = to_frame(feature_set(loaded.tables, [as_of], settings.labels))
        if features.empty:
            raise ValueError(f"no account is active at {as_of}: nothing to score")
        scores = score_accounts(
            model, features, model_name=name, model_version=version, accounts=acc.to_pandas(),
            previous=store.previous(as_of), bands=cfg.bands, top_n=cfg.top_reasons,
            min_contribution=cfg.min_contribution,
        )
    store.write(scores)
    return ScoringRun(scores, summarise(scores, cfg.movers), store.path, uri)


def _score_with_spark(settings: Settings, tables: Any, as_of: dt.date, model: Any, name: str, version: int,
                      accounts: Any, store: Any, cfg: ScoringConfig) -> pd.DataFrame:
    """`features.engine: spark`: features and scoring run on Spark (`churnml.scoring.spark`). The score table is
    written by the executors as Parquet partitioned by as_of to `<work_dir>/scores_spark/`, then read back
    for the embedded score store, which the API, report and CRM push read."""
    from churnml.features import feature_set
    from churnml.scoring.spark import previous_on_spark, score_on_spark, spark_frame, write_scores_spark
    from churnml.scoring.store import COLUMNS

    con = tables.con
    fs = feature_set(tables, [as_of], settings.labels)
    scored = score_on_spark(
        spark_frame(con, fs.table), model, fs.specs, model_name=name, model_version=version,
        previous=previous_on_spark(con._session, store.previous(as_of)), accounts=spark_frame(con, accounts),
        bands=cfg.bands, top_n=cfg.top_reasons, min_contribution=cfg.min_contribution,
    )
    out = Path(settings.work_dir) / "scores_spark"
    write_scores_spark(scored, out)
    part = out / f"as_of={as_of.isoformat()}"
    if not part.exists():
        raise ValueError(f"no account is active at {as_of}: nothing to score")
    scores = pd.read_parquet(part)
    scores["as_of"] = pd.Timestamp(as_of)
    scores["previous_as_of"] = pd.to_datetime(scores["previous_as_of"])
    return scores[list(COLUMNS)].sort_values("account_id", kind="stable").reset_index(drop=True)
