"""Task payloads for alerts: the CRM-neutral task, and the request shape of each target (HubSpot, Salesforce, Slack)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from churnml.crm.mapping import CrmConfig, SalesforceTasksConfig
from churnml.crm.targets.hubspot_tasks import association_input, due_timestamp, task_input
from churnml.crm.targets.salesforce_tasks import soql_quote, task_record
from churnml.crm.targets.slack import SlackTarget, message
from churnml.crm.tasks import ledger_target, play_title, task_records
from churnml.plays.alerts import ALERT_COLUMNS, alert_id

OPENED = dt.date(2025, 3, 3)


def _alerts(n: int = 3, held: tuple[int, ...] = ()) -> pd.DataFrame:
    rows = []
    for i in range(n):
        acc = f"ACC{i:03d}"
        rows.append({"alert_id": alert_id(acc, "risk_jump", OPENED), "account_id": acc, "cause": "risk_jump",
                     "play": "adoption_session", "play_text": "Book an adoption session.", "status": "open",
                     "held_out": i in held, "opened_as_of": OPENED, "last_seen_as_of": OPENED, "closed_as_of": None,
                     "risk_band": ["high", "medium", "low"][i % 3], "churn_probability": 0.61234 - 0.1 * i,
                     "mrr": 1200.0 + i if i != 2 else None, "detail": "risk up 14 points",
                     "reasons": "Logins fell by half; 3 open tickets"})
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


def test_neutral_task_has_play_cause_reasons_change_due_date_and_key() -> None:
    recs = task_records(_alerts(), due_days=7)
    assert [r.account_id for r in recs] == sorted(r.account_id for r in recs)  # keyed and ordered by alert id
    r = recs[0]
    p = r.properties
    assert r.account_id == "ACC000:risk_jump:2025-03-03" == p["alert_id"] and p["account_id"] == "ACC000"
    assert p["subject"] == "Adoption session: ACC000 (high churn risk)"
    assert p["body"].splitlines() == [
        "Book an adoption session.", "", "Why: risk_jump — risk up 14 points",
        "Top reasons: Logins fell by half; 3 open tickets", "Churn risk 61% (high), MRR 1,200",
        "churnml alert ACC000:risk_jump:2025-03-03"]
    assert p["due_date"] == "2025-03-10" and p["priority"] == "high" and p["churn_probability"] == 0.6123
    assert recs[2].properties["mrr"] is None and "MRR unknown" in recs[2].properties["body"]
    # the same alert always makes the same task (hash included): a rebuilt week plans nothing new
    assert [x.payload_hash for x in task_records(_alerts(), 7)] == [x.payload_hash for x in recs]
    assert ledger_target("hubspot") == "hubspot:tasks" and play_title("executive_call") == "Executive call"


def test_held_out_alerts_are_refused_and_missing_columns_named() -> None:
    with pytest.raises(ValueError, match=r"1 held-out alert\(s\).*ACC001:risk_jump:2025-03-03.*never delivered"):
        task_records(_alerts(held=(1,)), 7)
    with pytest.raises(ValueError, match=r"missing \['play_text'\]"):
        task_records(_alerts().drop(columns=["play_text"]), 7)


def test_hubspot_task_upsert_input_and_association() -> None:
    rec = task_records(_alerts(), 7)[1]
    body = task_input(rec, "churnml_alert_id")
    assert body == {"id": "ACC001:risk_jump:2025-03-03", "idProperty": "churnml_alert_id", "properties": {
        "hs_task_subject": "Adoption session: ACC001 (medium churn risk)", "hs_task_body": rec.properties["body"],
        "hs_timestamp": "2025-03-10T12:00:00.000Z", "hs_task_priority": "MEDIUM", "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO", "churnml_alert_id": "ACC001:risk_jump:2025-03-03"}}
    assert association_input("701", "9ACC001", 192) == {
        "from": {"id": "701"}, "to": {"id": "9ACC001"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}
    assert due_timestamp("2025-12-31") == "2025-12-31T12:00:00.000Z"


def test_salesforce_task_record_and_soql_quoting() -> None:
    rec = task_records(_alerts(), 7)[2]
    assert task_record(rec, "001XYZ", SalesforceTasksConfig()) == {
        "attributes": {"type": "Task"}, "Churnml_Alert_Id__c": "ACC002:risk_jump:2025-03-03",
        "Subject": "Adoption session: ACC002 (low churn risk)", "Description": rec.properties["body"],
        "ActivityDate": "2025-03-10", "WhatId": "001XYZ", "Priority": "Low", "Status": "Not Started"}
    assert soql_quote("O'Brien\\x") == "'O\\'Brien\\\\x'"


def test_slack_message_blocks_within_block_kit_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = _alerts(1)
    alerts.loc[0, "account_id"] = "A" * 200  # a long subject is cut to the header's 150 characters
    alerts.loc[0, "detail"] = "x" * 5000
    rec = task_records(alerts, 3)[0]
    msg = message(rec)
    header, section, changed, context = msg["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": header["text"]["text"],
                                                  "emoji": False}}
    assert len(header["text"]["text"]) == 150 and header["text"]["text"].endswith("…")
    assert section["type"] == "section" and [f["text"].split("\n")[0] for f in section["fields"]] == [
        "*Account*", "*Cause*", "*Churn risk*", "*MRR*", "*Due*", "*Priority*"]
    assert section["fields"][4]["text"] == "*Due*\n2025-03-06" and section["fields"][2]["text"].endswith("(high)")
    assert changed["type"] == "section" and len(changed["text"]["text"]) == 3000
    # Slack markup in the data must not become a mention or a link
    short = message(task_records(_alerts(1).assign(reasons="NPS <= 6 & <!channel>"), 3)[0])["blocks"][2]
    assert short["text"]["text"].endswith("*Top reasons:* NPS &lt;= 6 &amp; &lt;!channel&gt;")
    assert context == {"type": "context", "elements": [{"type": "mrkdwn",
                                                        "text": f"churnml alert `{rec.account_id}`"}]}
    assert len(msg["text"]) <= 3000
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    with pytest.raises(ValueError, match="SLACK_WEBHOOK_URL is not set"):
        SlackTarget(CrmConfig().tasks.slack)
