"""Assembles the feature table: population spine + one block per theme, as one Ibis expression.

The expression runs unchanged on DuckDB (embedded default) or PySpark (scale path). Which features
exist depends on which tables and columns exist: an absent optional table yields absent features,
never zeros.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from churnml.config import EventTypeFeaturesConfig, FeaturesConfig, LabelsConfig
from churnml.data.sources import Tables
from churnml.features.account import account_features, static_attribute_specs
from churnml.features.buyer import buyer_enabled, buyer_features, buyer_specs
from churnml.features.calendar import normalise_dates
from churnml.features.catalog import FeatureSpec, catalog
from churnml.features.commercial import commercial_features
from churnml.features.event_types import PER_TYPE_COLUMN, event_type_features, plan_event_types
from churnml.features.interventions import intervention_features
from churnml.features.keys import KEYS, attach
from churnml.features.population import population
from churnml.features.sentiment import sentiment_features
from churnml.features.support import support_features
from churnml.features.team import team_features
from churnml.features.usage import usage_features


@dataclass(frozen=True)
class FeatureSet:
    """A lazy feature table and the registry entries of the columns it holds (in column order)."""

    table: ibis.Table
    specs: tuple[FeatureSpec, ...]
    dates: tuple[dt.date, ...]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def categorical(self) -> list[str]:
        return [s.name for s in self.specs if s.kind == "categorical"]

    def spec(self, name: str) -> FeatureSpec:
        """The registry entry of column `name` (as this feature set's configuration defines it)."""
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(f"feature {name!r} is not in this feature set")


def available_specs(tables: Tables, features: FeaturesConfig | None = None,
                    extra: Sequence[FeatureSpec] = ()) -> list[FeatureSpec]:
    """Registry entries (of the configuration's catalog) whose required tables and columns are all present,
    plus static attributes.

    `extra`: entries made for this data and config (per-event-type, BG/NBD), kept when their needs are met."""
    present = {name: set(t.columns) for name, t in tables.tables.items()}
    # Validation gives events a default `value`; subscriptions a default term.
    specs = [
        f for f in (*catalog(features), *extra)
        if all(tbl in present and col in present[tbl] for tbl, col in f.requires)
    ]
    specs += static_attribute_specs(tables["accounts"])
    return specs


def _wanted(available: set[str], only: Sequence[str] | None) -> set[str] | None:
    """The feature names to compute (None = all), with what derived ones are made from."""
    if only is None:
        return None
    unknown = [name for name in only if name not in available]
    if unknown:
        close = [m for name in unknown for m in difflib.get_close_matches(name, available, n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"unknown or unavailable feature(s) {unknown}{hint}: features these tables give are {sorted(available)}"
        )
    wanted = set(only)
    if "seat_utilisation_30d" in wanted:
        wanted |= {"active_users_30d", "seats"}
    return wanted


def _scoring_types(cfg: EventTypeFeaturesConfig, model_features: Collection[str] | None) -> EventTypeFeaturesConfig:
    """The per-type selection to plan with: as configured, or — scoring with a model — every type that occurs, in
    the configured windows and the model's, so the model's own columns can be kept whatever the volumes are at
    the scoring date and whatever `select` says now (a model trained with `top 10` still scores after the
    config is changed to `none` or to a list)."""
    if model_features is None:
        return cfg
    found = [m for n in model_features if (m := PER_TYPE_COLUMN.match(n))]
    if not found:
        return cfg.model_copy(update={"select": "none"})
    windows = sorted({*cfg.windows, *(int(m.group(2)) for m in found if m.group(2))})
    return cfg.model_copy(update={"select": "all", "max_types": max(cfg.max_types, 10_000), "windows": windows})


def feature_set(
    tables: Tables, as_of: Sequence[dt.date | str], labels: LabelsConfig, only: Sequence[str] | None = None,
    accounts: Sequence[str] | None = None, features: FeaturesConfig | None = None,
    model_features: Collection[str] | None = None,
) -> FeatureSet:
    """The feature expression for the population at the given as-of dates.

    Args:
        tables: validated input tables.
        as_of: as-of dates; only rows timestamped strictly before each date's midnight are used.
        labels: label definition (decides the population: contractual or non-contractual).
        only: compute just these features (default all); themes and blocks none of them need are skipped,
            which is what makes a narrow feature table cheap. Unknown names raise ValueError.
        accounts: compute only these accounts (default all): every table with an `account_id` is filtered
            first, so one account's features read one account's rows (fresh scores, `churnml.scoring.fresh`).
        features: windows per theme and the words of events and `value` (`settings.features`; default
            `FeaturesConfig()`); the feature set's `specs` are this configuration's registry entries.
        model_features: the columns a trained model reads, when scoring with it. Per-event-type columns are then
            those of the model (chosen when it was trained: `top N` by volume before *its* first training date),
            not chosen again at the scoring date; every other feature is computed as usual.
    """
    cfg = features if features is not None else FeaturesConfig()
    full = tables  # per-event-type columns are chosen, and BG/NBD models fitted, on every account's rows
    if accounts is not None:
        ids = [str(a) for a in accounts]
        tables = tables.replace(**{n: t.filter(t.account_id.cast("string").isin(ids))
                                   for n, t in tables.tables.items() if "account_id" in t.columns})
    dates = normalise_dates(as_of)
    ev_plan = plan_event_types(full["events"], dates, _scoring_types(cfg.event_types, model_features),
                               cfg.event_type_names, {f.name for f in catalog(cfg)}) if "events" in full else None
    if ev_plan is not None and model_features is not None:
        ev_plan = ev_plan.restricted(model_features)
    buyer = "events" in full and buyer_enabled(cfg.buyer, labels)
    available = available_specs(
        tables, cfg, [*(ev_plan.specs if ev_plan else ()), *(buyer_specs(labels) if buyer else ())])
    wanted = _wanted({s.name for s in available}, only)
    themes = None if wanted is None else {s.theme for s in available if s.name in wanted}

    def needed(theme: str) -> bool:
        return themes is None or theme in themes

    spine = population(tables, dates, labels)
    out = spine
    if "events" in tables and needed("usage"):
        out = attach(out, usage_features(spine, tables["events"], dates, wanted, cfg), KEYS)
    if ev_plan is not None and needed("usage"):
        out = attach(out, event_type_features(spine, tables["events"], dates, ev_plan, wanted), KEYS)
    if buyer and needed("usage") and (wanted is None or {s.name for s in buyer_specs(labels)} & wanted):
        out = attach(out, buyer_features(spine, full["events"], dates, labels, cfg.buyer), KEYS)
    if "tickets" in tables and needed("support"):
        out = attach(out, support_features(spine, tables["tickets"], dates, cfg.windows), KEYS)
    if "surveys" in tables and needed("sentiment"):
        out = attach(out, sentiment_features(spine, tables["surveys"], dates, cfg.windows), KEYS)
    if "subscriptions" in tables and needed("commercial"):
        out = attach(out, commercial_features(spine, tables["subscriptions"], dates), KEYS)
    accounts = tables["accounts"]
    if "csm_enps" in tables and "csm_id" in accounts.columns and needed("team"):
        out = attach(out, team_features(spine, accounts, tables["csm_enps"], dates), KEYS)
    if needed("account"):
        out = attach(out, account_features(spine, accounts), KEYS)
    if "interventions" in tables and needed("plays"):
        out = attach(out, intervention_features(spine, tables["interventions"], dates), KEYS)
    if {"active_users_30d", "seats"} <= set(out.columns) and (wanted is None or "seat_utilisation_30d" in wanted):
        out = out.mutate(
            seat_utilisation_30d=ibis.ifelse(
                out.seats > 0, out.active_users_30d.cast("float64") / out.seats, ibis.null("float64")
            )
        )
    asked = None if only is None else set(only)  # without the parts of derived features
    specs = [s for s in available if s.name in out.columns and (asked is None or s.name in asked)]
    # One schema whatever the engine: numeric features float64 (nulls stay null), categoricals strings.
    table = out.select(
        out.account_id.cast("string").name("account_id"),
        out.as_of,
        *[out[s.name].cast("string" if s.kind == "categorical" else "float64").name(s.name) for s in specs],
    )
    return FeatureSet(table=table, specs=tuple(specs), dates=tuple(dates))


def to_frame(fs: FeatureSet, con: ibis.BaseBackend | None = None) -> pd.DataFrame:
    """Execute the feature expression; categoricals become pandas `category`, rows sorted by key."""
    df = fs.table.to_pandas() if con is None else con.to_pandas(fs.table)
    return finalise_frame(df, fs.specs)


def finalise_frame(df: pd.DataFrame, specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    """Canonical in-memory form, the same whatever the engine or the data.

    as_of is datetime64, numeric features float64 (nulls stay NaN), categoricals `category`, rows
    sorted by key — so training, batch scoring and the API all see one schema.
    """
    cols = {c: df[c] for c in df.columns}  # one frame built at the end: setting columns one by one costs more
    cols["account_id"] = df["account_id"].astype(str)
    cols["as_of"] = pd.to_datetime(df["as_of"]).astype("datetime64[ns]")
    for spec in specs:
        if spec.name not in cols:
            continue
        col = df[spec.name]
        if spec.kind == "categorical":
            cols[spec.name] = col.astype("object").where(col.notna(), None).astype("category")
        elif col.dtype == np.float64:
            cols[spec.name] = col  # copied when the frame is built
        else:
            cols[spec.name] = pd.to_numeric(col, errors="raise").astype("float64")
    out = pd.DataFrame({c: v.array for c, v in cols.items()}, index=df.index)
    return out.sort_values(KEYS, kind="stable").reset_index(drop=True)


def compute_features(
    tables: Tables, as_of: Sequence[dt.date | str], labels: LabelsConfig | None = None,
    features: FeaturesConfig | None = None,
) -> pd.DataFrame:
    """Features for the population at `as_of`, one row per (account_id, as_of)."""
    return to_frame(feature_set(tables, as_of, labels or LabelsConfig(), features=features))
