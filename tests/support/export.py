"""A company's own export, as `configs/mapping.yaml` describes it, built from the contract-valid test frames.

`company_export()` renames and re-encodes `tests.support.factories.valid_frames()` the way real systems write them
(day/month/year dates, cents, epoch milliseconds, P1..P4 priorities, Yes/No), so importing it through the
mapping must give back exactly the valid frames: a round trip that checks every conversion.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.support.factories import valid_frames

MAPPING = Path(__file__).resolve().parents[2] / "configs" / "mapping.yaml"
_TIER = {"SMB": "smb", "Mid-Market": "mm", "Enterprise": "ent"}
_PLAN = {"basic": "B1", "pro": "P1", "enterprise": "E1"}
_PERIOD = {1: "monthly", 3: "quarterly", 12: "annual"}
_URGENCY = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}


def _iso_z(s: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%SZ") for v in s]


def company_export() -> dict[str, pd.DataFrame]:
    """Source tables named and encoded as the example mapping expects (plus one heartbeat event to filter)."""
    f = valid_frames()
    a, s, e, t, v, c = (f[k] for k in ("accounts", "subscriptions", "events", "tickets", "surveys", "csm_enps"))
    events = pd.DataFrame({
        "account": e["account_id"],
        "event_time_ms": (e["ts"].astype("datetime64[ms]").astype("int64")),
        "action": e["event_type"],
        "user": e["user_id"],
        "qty": e["value"],
    })
    heartbeat = events.iloc[[0]].assign(action="heartbeat")
    return {
        "crm_accounts": pd.DataFrame({
            "Id": a["account_id"],
            "Company": ["Acme", "Globex", "Initech"],
            "SignupDate": a["created_at"].dt.strftime("%d/%m/%Y"),
            "Tier": a["segment"].map(_TIER),
            "Industry": a["industry"],
            "Region": a["region"],
            "OwnerEmail": a["csm_id"],
            "Employees": a["employees"],
        }),
        "billing_subscriptions": pd.DataFrame({
            "customer_id": s["account_id"],
            "started": [d.isoformat() for d in s["start_date"]],
            "cancelled": ["" if d is None or pd.isna(d) else d.isoformat() for d in s["end_date"]],
            "amount_cents": (s["mrr"] * 100).astype("int64"),
            "plan_code": s["plan"].map(_PLAN),
            "licenses": s["seats"],
            "billing_period": s["term_months"].map(_PERIOD),
        }),
        "product_events": pd.concat([events, heartbeat], ignore_index=True),
        "helpdesk_tickets": pd.DataFrame({
            "org_id": t["account_id"],
            "id": t["ticket_id"],
            "created": _iso_z(t["opened_at"]),
            "solved": _iso_z(t["closed_at"]),
            "urgency": t["priority"].map(_URGENCY),
            "ces": t["effort_score"],
            "reopened": [None if pd.isna(x) else ("Yes" if x else "No") for x in t["reopened"]],
        }),
        "survey_responses": pd.DataFrame({
            "account_ref": v["account_id"],
            "submitted_at": v["ts"],
            "survey": v["kind"].str.upper(),
            "answer": v["score"],
            "respondent": v["respondent_id"],
        }),
        "team_enps": pd.DataFrame({"csm": c["csm_id"], "date": c["ts"], "score": c["score"]}),
    }


def write_folder(folder: Path, tables: dict[str, pd.DataFrame], fmt: str) -> Path:
    """Write the export as CSV or Parquet files, one per table."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder
