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


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def _sentences(reasons_json: Any) -> list[str]:
    if not reasons_json or (isinstance(reasons_json, float) and math.isnan(reasons_json)):
        return []
    return [str(r.get("sentence", "")) for r in json.loads(reasons_json)]


def field_values(row: Mapping[str, Any], decimals: int = 4) -> dict[str, Any]:
    """Every mappable score field of one stored score row (`churnml.score_store.COLUMNS`), JSON-ready."""
    reasons = _sentences(row.get("risk_drivers"))
    prob = _clean(row.get("churn_probability"))
    out: dict[str, Any] = {k: _clean(row.get(k)) for k in (
        "account_id", "as_of", "risk_band", "model_version", "segment", "csm_id", "scored_at")}
    out["account_id"] = str(out["account_id"])
    out["churn_probability"] = None if prob is None else round(float(prob), decimals)
    out["churn_percent"] = None if prob is None else round(100 * float(prob), max(decimals - 2, 0))
    for k in ("mrr", "mrr_at_risk", "change_points"):
        v = _clean(row.get(k))
        out[k] = None if v is None else round(float(v), 2)
    out["top_reasons"] = "; ".join(reasons)
    for i in range(3):
        out[f"top_reason_{i + 1}"] = reasons[i] if i < len(reasons) else None
    out["protective_factors"] = "; ".join(_sentences(row.get("protective_factors")))
    return out


def payload_hash(properties: Mapping[str, Any], volatile: Iterable[str] = ()) -> str:
    """SHA-256 of the properties (sorted JSON) minus the volatile ones; 16 hex characters."""
    skip = set(volatile)
    kept = {k: v for k, v in properties.items() if k not in skip}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_records(scores: pd.DataFrame, fields: Mapping[str, str], decimals: int = 4) -> list[Record]:
    """One record per score row: `fields` maps CRM property -> score field."""
    volatile = [prop for prop, src in fields.items() if src in VOLATILE_FIELDS]
    out = []
    for row in scores.to_dict(orient="records"):
        values = field_values(row, decimals)
        props = {prop: values[src] for prop, src in fields.items()}
        out.append(Record(values["account_id"], props, payload_hash(props, volatile)))
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
