"""The score table, pure: frames in (features, model, previous scores), one row per account out.

`score_accounts` scores, explains and compares with the previous scoring; `summarise` makes the portfolio
summary. The job that reads data and writes the store is `churnml.scoring.job`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from churnml.config import RiskBands
from churnml.features.catalog import FeatureSpec
from churnml.scoring.bands import BandCut, band_accounts
from churnml.scoring.explain import Batch, explain_batch, score_change
from churnml.scoring.json_columns import reasons_column, records_column

BANDS: tuple[str, ...] = ("low", "medium", "high")


# --------------------------------------------------------------------------- the score table (pure)


def _dumps(value: Any) -> str:
    """Compact JSON text (orjson: several times faster than `json.dumps` on the score table's columns)."""
    return orjson.dumps(value).decode()


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def score_accounts(
    model: Any,
    features: pd.DataFrame,
    *,
    model_name: str,
    model_version: str | int,
    accounts: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    bands: RiskBands | None = None,
    top_n: int = 3,
    min_contribution: float = 0.01,
    scored_at: dt.datetime | None = None,
    cut: BandCut | None = None,
    specs: Sequence[FeatureSpec] | None = None,
) -> pd.DataFrame:
    """The score table for one as-of date (columns of `churnml.scoring.store.COLUMNS`, one row per account).

    Args:
        model: fitted `ChurnModel`.
        features: feature frame for a single as-of date (`to_frame(feature_set(...))`).
        model_name / model_version: recorded on every row; a different version than the previous scoring's is
            named in the change text.
        accounts: `account_id` with optional `segment` and `csm_id` (for filtering), `account_name` and
            `csm_name` (shown beside the ids); `segment` falls back to the feature of that name.
        previous: each account's previous stored scoring (`ScoreStore.previous`); change columns are null for
            accounts not in it.
        bands: the band rule (`churnml.scoring.bands`); relative and capacity bands are made from the accounts
            in `features`, so score a whole population at once (or pass `cut`).
        cut: band by these stored edges instead (an account scored apart from its population).
        top_n / min_contribution: see `churnml.scoring.explain.explain_frame`.
        specs: the registry entries of the feature set that built `features` (`FeatureSet.specs`): reasons use
            its words (configured windows, event noun, value unit, per-type display names). Default: the registry.

    Raises:
        ValueError: the frame holds several as-of dates, or none.
    """
    dates = pd.to_datetime(features["as_of"]).dt.date.unique()
    if len(dates) != 1:
        raise ValueError(f"score one as-of date at a time; the frame holds {len(dates)}")
    as_of = dates[0]
    bands = bands or RiskBands()
    explained = explain_batch(model, features, top_n=top_n, min_contribution=min_contribution, specs=specs)
    ids = features["account_id"].astype(str).to_numpy()
    prob = explained.probability
    mrr = features["mrr"].to_numpy(dtype=float) if "mrr" in features.columns else np.full(len(ids), np.nan)
    risk_band, cut = (cut.assign(prob), cut) if cut is not None else band_accounts(bands, prob, mrr, ids)
    version = str(model_version)
    signals = key_signals(features)
    change = _changes(explained, previous, model_name, version, signals)
    seg = _lookup(accounts, "segment", ids)
    if seg is None and "segment" in features.columns:
        seg = [_text(v) for v in features["segment"].astype(object)]
    csm = _lookup(accounts, "csm_id", ids)
    names = {col: _lookup(accounts, col, ids) for col in ("account_name", "csm_name")}
    out = pd.DataFrame({  # built at once: inserting columns one by one costs more than making them
        "account_id": ids,
        "as_of": pd.Timestamp(as_of),
        "churn_probability": prob,
        "risk_band": risk_band,
        "mrr": mrr,
        "mrr_at_risk": prob * mrr,
        **{c: change[c] for c in change.columns},
        "risk_drivers": reasons_column(explained, explained.drivers, searched=0),
        "protective_factors": reasons_column(explained, explained.protective, searched=1),
        "theme_contributions": records_column(explained.themes, explained.by_theme),
        "raw_score": explained.raw,
        "base_value": explained.base,
        "model_name": model_name,
        "model_version": version,
        "segment": seg,
        "csm_id": csm,
        "scored_at": pd.Timestamp(scored_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)),
        "signals": signals,
        "band_rule": cut.to_json(),
        **names,
        "context_facts": reasons_column(explained, explained.context),
        "theme_points": records_column(explained.themes, explained.theme_points),
    })
    return out


def rebanded(scores: pd.DataFrame, bands: RiskBands) -> pd.DataFrame:
    """The score table with `risk_band` and `band_rule` made again over all its rows (one as-of date): for scores
    computed in parts (Spark partitions), whose population rules need the whole population."""
    out = scores.copy()
    mrr = out["mrr"].to_numpy(dtype=float, na_value=np.nan)
    names, cut = band_accounts(bands, out["churn_probability"].to_numpy(dtype=float), mrr,
                               out["account_id"].astype(str).to_numpy())
    out["risk_band"] = names
    out["band_rule"] = cut.to_json()
    return out


#: Signals a CSM follows week to week, kept with every scoring so their trend can be shown beside the risk
#: (the score store keeps no feature table). Absent features are left out; missing values are null.
KEY_SIGNALS = (
    "active_users_30d", "events_30d", "seat_utilisation_30d", "tickets_open", "effort_mean_90d", "nps_latest",
    "csat_mean_90d", "mrr", "days_to_renewal", "contract_term_months", "tickets_open_high_14d",
)


def key_signals(features: pd.DataFrame) -> Sequence[str]:
    """Per row, JSON {signal: value} of the `KEY_SIGNALS` present in the frame (null where missing)."""
    present = [c for c in KEY_SIGNALS if c in features.columns]
    values = np.empty((len(features), len(present)))
    for j, c in enumerate(present):
        values[:, j] = features[c].to_numpy(dtype="float64", na_value=np.nan)
    return records_column(present, values)


#: The previous scoring's columns the change reads.
_PREVIOUS_READ = ("account_id", "as_of", "churn_probability", "theme_contributions", "base_value", "model_name",
                  "model_version", "signals")


def _signal_values(text: Any) -> dict[str, Any]:
    """A stored `signals` JSON text as {signal: value} ({} for scorings from before signals were stored)."""
    return orjson.loads(text) if isinstance(text, str) and text else {}


def _lookup(accounts: pd.DataFrame | None, column: str, ids: np.ndarray) -> list[str | None] | None:
    if accounts is None or column not in accounts.columns:
        return None
    by_id = dict(zip(accounts["account_id"].astype(str), accounts[column].astype(object), strict=True))
    return [_text(by_id.get(i)) for i in ids]


def _changes(explained: Batch, previous: pd.DataFrame | None, model_name: str,
             version: str, signals: Sequence[str] | None = None) -> pd.DataFrame:
    """Change since each account's previous scoring, in probability points: the key signals that moved
    (stored `signals` of both scorings) and the split by theme."""
    n = len(explained)
    cols: dict[str, list[Any]] = {
        "change_points": [None] * n, "previous_as_of": [None] * n, "previous_probability": [None] * n,
        "change_by_theme": [None] * n, "change_text": [None] * n,
    }
    if previous is not None and len(previous):
        wanted = [c for c in _PREVIOUS_READ if c in previous.columns]  # only what the change reads: faster
        prev = {str(r["account_id"]): r for r in previous[wanted].to_dict("records")}
        label = f"{model_name} v{version}"
        prob, base = explained.probability.tolist(), explained.base.tolist()
        signals = list(signals) if signals is not None else None
        for i, account in enumerate(explained.ids):
            p = prev.get(account)
            if p is None:
                continue
            ch = score_change(
                float(p["churn_probability"]), orjson.loads(p["theme_contributions"]), float(p["base_value"]),
                prob[i], explained.theme_dict(i), base[i],
                previous_model=f"{p['model_name']} v{p['model_version']}", current_model=label,
                previous_signals=_signal_values(p.get("signals")),
                current_signals=_signal_values(signals[i] if signals is not None else None),
            )
            cols["change_points"][i] = ch.points
            cols["previous_as_of"][i] = pd.Timestamp(p["as_of"])
            cols["previous_probability"][i] = float(p["churn_probability"])
            cols["change_by_theme"][i] = json.dumps(ch.parts)
            cols["change_text"][i] = ch.text()
    out = pd.DataFrame(cols)
    out["change_points"] = out["change_points"].astype("float64")
    out["previous_probability"] = out["previous_probability"].astype("float64")
    out["previous_as_of"] = pd.to_datetime(out["previous_as_of"])
    return out


# --------------------------------------------------------------------------- portfolio summary (pure)


@dataclass(frozen=True)
class PortfolioSummary:
    """What a CS leader reads after a scoring run.

    Attributes:
        by_band: band, accounts, mrr, mrr_at_risk (low, medium, high).
        bands: which rule made the bands and its edges, in words ("" for scores stored before it was recorded).
        by_segment: segment, accounts, high_risk, mrr, mrr_at_risk, largest MRR at risk first.
        movers: accounts whose risk changed most since their previous scoring (absolute points).
    """

    as_of: dt.date
    accounts: int
    model: str
    mrr: float
    mrr_at_risk: float
    by_band: pd.DataFrame
    by_segment: pd.DataFrame
    movers: pd.DataFrame
    rescored: int
    bands: str = ""


def summarise(scores: pd.DataFrame, movers: int = 10) -> PortfolioSummary:
    """Accounts scored, by risk band, MRR at risk by segment, and the biggest movers."""
    s = scores.copy()
    s["segment"] = s["segment"].fillna("(none)")
    by_band = (
        s.groupby("risk_band")
        .agg(accounts=("account_id", "size"), mrr=("mrr", "sum"), mrr_at_risk=("mrr_at_risk", "sum"))
        .reindex(list(BANDS), fill_value=0).rename_axis("band").reset_index()
    )
    by_band["accounts"] = by_band["accounts"].astype(int)
    by_segment = (
        s.assign(high_risk=s["risk_band"].eq("high"))
        .groupby("segment").agg(accounts=("account_id", "size"), high_risk=("high_risk", "sum"), mrr=("mrr", "sum"),
                                mrr_at_risk=("mrr_at_risk", "sum"))
        .sort_values("mrr_at_risk", ascending=False).reset_index()
    )
    moved = s[s["change_points"].notna()]
    top = moved.reindex(moved["change_points"].abs().sort_values(ascending=False, kind="stable").index).head(movers)
    first = scores.iloc[0] if len(scores) else None
    return PortfolioSummary(
        as_of=pd.Timestamp(first["as_of"]).date() if first is not None else dt.date.min,
        accounts=len(scores),
        model=f"{first['model_name']} v{first['model_version']}" if first is not None else "",
        mrr=float(s["mrr"].sum()),
        mrr_at_risk=float(s["mrr_at_risk"].sum()),
        by_band=by_band,
        by_segment=by_segment,
        movers=top[["account_id", "segment", "csm_id", "churn_probability", "change_points", "change_text"]]
        .reset_index(drop=True),
        rescored=len(moved),
        bands=band_text(scores),
    )


def band_text(scores: pd.DataFrame) -> str:
    """The rule and edges of one as-of date's bands in words, from its stored `band_rule`."""
    if "band_rule" not in scores.columns or not len(scores):
        return ""
    cut = BandCut.from_json(scores["band_rule"].iloc[0])
    return cut.describe() if cut is not None else ""


def top_reasons(row: Mapping[str, Any], kind: str = "risk_drivers") -> list[dict[str, Any]]:
    """The stored reasons of one score row (`risk_drivers` or `protective_factors`) as dicts."""
    return json.loads(row[kind]) if row.get(kind) else []
