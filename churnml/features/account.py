"""Account features: age and static attributes (segment, industry, region, and any extra columns)."""

from __future__ import annotations

import ibis

from churnml.features.catalog import ACCOUNT_KEY_COLUMNS, FeatureSpec, static_attribute_spec
from churnml.features.keys import attach

NAMED = ("segment", "industry", "region")


def static_attribute_specs(accounts: ibis.Table) -> list[FeatureSpec]:
    """Registry entries for the extra columns of `accounts` (numeric or categorical by their type)."""
    specs = []
    for name, dtype in accounts.schema().items():
        if name in ACCOUNT_KEY_COLUMNS or name in NAMED:
            continue
        specs.append(static_attribute_spec(name, numeric=dtype.is_numeric() and not dtype.is_boolean()))
    return specs


def account_features(spine: ibis.Table, accounts: ibis.Table) -> ibis.Table:
    """Account age at the as-of date plus every static attribute, categoricals as strings."""
    keep = [c for c in accounts.columns if c not in ("csm_id", "name")]  # shown, never features
    a = accounts.select(*keep)
    out = attach(spine, a, "account_id")
    mutations: dict[str, ibis.Value] = {
        "account_age_days": out.as_of.delta(out.created_at.date(), unit="day"),
    }
    for name, dtype in a.schema().items():
        if name in ACCOUNT_KEY_COLUMNS:
            continue
        if dtype.is_boolean() or not dtype.is_numeric():
            mutations[name] = out[name].cast("string")
    return out.mutate(**mutations).drop("created_at")
