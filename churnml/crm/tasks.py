"""Pure building of task records for alerts: one CRM-neutral task per routed alert, keyed by its alert id.

A task record's `account_id` slot holds the **alert id** (`churnml.plays.alerts.alert_id`): it is the ledger's
idempotency key for tasks, and each target's upsert key (HubSpot's unique task property, Salesforce's external id
field), so a task is created once however often its batch is resent. Its properties are target-neutral: subject
(the play and the account), body (the play's text, the cause, what changed, the top reasons), due date (the
alert's opening date plus `crm.tasks.due_days`), priority from the risk band, and the account id the target
resolves to its own CRM id (HubSpot company id, Salesforce Account Id). Everything comes from the stored alert,
so rebuilding the same alert gives the same task and the same hash.

Held-out alerts are never turned into tasks: they are the holdout that measures whether plays work
(docs/plays.md), and `task_records` refuses them rather than trusting every caller to filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from churnml.crm.payload import Record, payload_hash

#: Ledger target names of task pushes: never the score push's names, so their batches and records never mix.
TASK_LEDGER_SUFFIX = ":tasks"
PRIORITY = {"high": "high", "medium": "medium", "low": "low"}
_NEEDED = ("alert_id", "account_id", "cause", "play", "play_text", "held_out", "opened_as_of", "risk_band",
           "churn_probability", "mrr", "detail", "reasons")


def ledger_target(target: str) -> str:
    """The ledger's target name for tasks pushed to `target` (e.g. "hubspot:tasks")."""
    return f"{target}{TASK_LEDGER_SUFFIX}"


def play_title(play: str) -> str:
    """`adoption_session` -> "Adoption session"."""
    words = str(play).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _money(v: Any) -> str:
    return "unknown" if v is None or pd.isna(v) else f"{float(v):,.0f}"


def _date(v: Any) -> dt.date:
    return pd.Timestamp(v).date()


def task_body(row: dict[str, Any]) -> str:
    """The task's text: the play, why (cause and what changed), the top reasons, the risk, and the alert id."""
    lines = [str(row["play_text"]), "",
             f"Why: {row['cause']} — {row['detail'] or 'no detail recorded'}",
             f"Top reasons: {row['reasons'] or 'none recorded'}",
             f"Churn risk {float(row['churn_probability']):.0%} ({row['risk_band']}), MRR {_money(row['mrr'])}",
             f"churnml alert {row['alert_id']}"]
    return "\n".join(lines)


def task_properties(row: dict[str, Any], due_days: int) -> dict[str, Any]:
    """The CRM-neutral task of one alert row (see the module docstring)."""
    due = _date(row["opened_as_of"]) + dt.timedelta(days=due_days)
    band = str(row["risk_band"])
    return {
        "alert_id": str(row["alert_id"]), "account_id": str(row["account_id"]),
        "subject": f"{play_title(row['play'])}: {row['account_id']} ({band} churn risk)",
        "body": task_body(row), "due_date": due.isoformat(), "priority": PRIORITY.get(band, "medium"),
        "play": str(row["play"]), "cause": str(row["cause"]), "detail": str(row["detail"] or ""),
        "reasons": str(row["reasons"] or ""), "risk_band": band,
        "churn_probability": round(float(row["churn_probability"]), 4),
        "mrr": None if row["mrr"] is None or pd.isna(row["mrr"]) else round(float(row["mrr"]), 2),
        "opened_as_of": _date(row["opened_as_of"]).isoformat(),
    }


def task_records(alerts: pd.DataFrame, due_days: int) -> list[Record]:
    """One task record per alert row, in alert-id order.

    Raises:
        ValueError: a column is missing, or a row is held out (held-out alerts must never reach a CSM).
    """
    missing = [c for c in _NEEDED if c not in alerts.columns]
    if missing:
        raise ValueError(f"alerts for tasks need columns {list(_NEEDED)}; missing {missing}")
    held = alerts["held_out"].astype(bool)
    if held.any():
        ids = alerts.loc[held, "alert_id"].astype(str).tolist()
        raise ValueError(f"{len(ids)} held-out alert(s) passed to the task push (e.g. {ids[:3]}): "
                         "held-out alerts are never delivered; pass routed alerts only")
    out = []
    for row in alerts.sort_values("alert_id").to_dict("records"):
        props = task_properties(row, due_days)
        out.append(Record(props["alert_id"], props, payload_hash(props)))
    return out
