"""Pure building of CRM records from score rows: mapped properties, a content hash, change selection, batches.

A record's hash covers its mapped properties except the fields that change on every run (`VOLATILE_FIELDS`:
the as-of and scoring dates), so "only changed scores are pushed" compares what a CSM would see change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from churnml.crm.mapping import VOLATILE_FIELDS


@dataclass(frozen=True)
class Record:
    """One account's update: the CRM properties to set and the hash of their non-volatile part."""

    account_id: str
    properties: dict[str, Any]
    payload_hash: str


@dataclass(frozen=True)
class Batch:
    """Records sent in one request; `batch_id` doubles as the idempotency key."""

    batch_id: str
    seq: int
    records: list[Record] = field(default_factory=list)


def _none(values: list[Any]) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v for v in values]


def _sentences(reasons_json: Any) -> list[str]:
    if not isinstance(reasons_json, str) or not reasons_json:
        return []
    return [str(r.get("sentence", "")) for r in json.loads(reasons_json)]


def _dates(col: pd.Series) -> list[Any]:
    ts = pd.to_datetime(col)
    day = ts.dt.normalize()
    return [None if pd.isna(t) else (t.date().isoformat() if t == d else t.isoformat()) for t, d in zip(ts, day,
                                                                                                         strict=True)]


def field_columns(scores: pd.DataFrame, wanted: Iterable[str], decimals: int = 4) -> dict[str, list[Any]]:
    """Mappable score fields (`mapping.SOURCE_FIELDS`) of stored score rows, column by column, JSON-ready.

    Probabilities are rounded to `decimals`, money and points to cents; `top_reasons` joins the risk drivers'
    sentences with "; ", `top_reason_<k>` is the k-th one; dates are ISO strings; missing values are None.
    """
    out: dict[str, list[Any]] = {}
    reasons: list[list[str]] | None = None
    for f in dict.fromkeys(wanted):
        if f == "account_id":
            out[f] = scores["account_id"].astype(str).tolist()
        elif f in ("as_of", "scored_at"):
            out[f] = _dates(scores[f])
        elif f == "churn_probability":
            out[f] = _none(scores[f].astype(float).round(decimals).tolist())
        elif f == "churn_percent":
            out[f] = _none((100 * scores["churn_probability"].astype(float)).round(max(decimals - 2, 0)).tolist())
        elif f in ("mrr", "mrr_at_risk", "change_points", "expected_arr_at_renewal"):
            if f not in scores:  # expected ARR at renewal: only where a forecast of the same date exists
                out[f] = [None] * len(scores)
                continue
            out[f] = _none(scores[f].astype(float).round(2).tolist())
        elif f == "top_reasons" or f.startswith("top_reason_"):
            if reasons is None:
                reasons = [_sentences(x) for x in scores["risk_drivers"]]
            if f == "top_reasons":
                out[f] = ["; ".join(r) for r in reasons]
            else:
                k = int(f.rsplit("_", 1)[1]) - 1
                out[f] = [r[k] if k < len(r) else None for r in reasons]
        elif f == "protective_factors":
            out[f] = ["; ".join(_sentences(x)) for x in scores[f]]
        else:
            out[f] = _none([None if v is None else str(v) for v in scores[f].astype(object)])
    return out


def with_expected_arr(scores: pd.DataFrame, forecast_accounts: pd.DataFrame | None) -> pd.DataFrame:
    """`scores` with `expected_arr_at_renewal`: 12 × the forecast's expected MRR at the horizon for accounts whose
    renewal falls inside it (None for the others, and for all when there is no forecast)."""
    if forecast_accounts is None or forecast_accounts.empty:
        return scores.assign(expected_arr_at_renewal=float("nan"))
    fa = forecast_accounts.assign(account_id=forecast_accounts["account_id"].astype(str))
    value = (12 * fa["expected_mrr_horizon"].astype(float)).where(fa["renews_in_horizon"].astype(bool))
    lookup = dict(zip(fa["account_id"], value, strict=True))
    return scores.assign(expected_arr_at_renewal=scores["account_id"].astype(str).map(lookup).astype(float))


def payload_hash(properties: Mapping[str, Any], volatile: Iterable[str] = ()) -> str:
    """SHA-256 of the properties (sorted JSON) minus the volatile ones; 16 hex characters."""
    skip = set(volatile)
    kept = {k: v for k, v in properties.items() if k not in skip}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_records(scores: pd.DataFrame, fields: Mapping[str, str], decimals: int = 4) -> list[Record]:
    """One record per score row: `fields` maps CRM property -> score field."""
    volatile = [prop for prop, src in fields.items() if src in VOLATILE_FIELDS]
    cols = field_columns(scores, ["account_id", *fields.values()], decimals)
    props = list(fields.items())
    out = []
    for i, account in enumerate(cols["account_id"]):
        p = {prop: cols[src][i] for prop, src in props}
        out.append(Record(account, p, payload_hash(p, volatile)))
    return out


def select_changed(records: Sequence[Record], last_acked: Mapping[str, str], full: bool = False) -> list[Record]:
    """Records whose hash differs from the account's last acknowledged one (all of them when `full`)."""
    if full:
        return list(records)
    return [r for r in records if last_acked.get(r.account_id) != r.payload_hash]


def chunk(records: Sequence[Record], size: int) -> list[list[Record]]:
    """Consecutive slices of at most `size` records."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(records[i:i + size]) for i in range(0, len(records), size)]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 over `timestamp + "." + body` (the webhook's X-Churnml-Signature)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Constant-time check of a webhook signature (what a receiver does)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")
