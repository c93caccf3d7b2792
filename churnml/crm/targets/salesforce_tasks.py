"""Salesforce Tasks for alerts: Account Ids by SOQL, then an sObject Collections upsert of Tasks by external id.

1. `GET /services/data/vXX.X/query?q=SELECT Id, <account ext id> FROM Account WHERE <account ext id> IN (...)`:
   the Account Id (`WhatId`) of each account, matched on the same external id field as the score push. An
   account with no Account is rejected and its task is not sent.
2. `PATCH /services/data/vXX.X/composite/sobjects/Task/<alert ext id field>` with `{"allOrNone": false,
   "records": [{"attributes": {"type": "Task"}, "Churnml_Alert_Id__c": alert_id, "Subject", "Description",
   "ActivityDate", "WhatId", "Priority", "Status"}]}` — the same collections upsert as the score push. The
   external id (an External ID, Unique text field on Activity) makes a resent batch update the Tasks it created
   instead of creating them again. The answer is a list in request order, read as for the score push.
"""

from __future__ import annotations

import datetime as dt

import httpx

from churnml.crm.mapping import SalesforceConfig, SalesforceTasksConfig
from churnml.crm.payload import Batch, Record
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected
from churnml.crm.targets.salesforce import parse_response

PRIORITY = {"high": "High", "medium": "Normal", "low": "Low"}


def soql_quote(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def task_record(rec: Record, what_id: str, cfg: SalesforceTasksConfig) -> dict:
    """One Task of the upsert body."""
    p = rec.properties
    return {"attributes": {"type": cfg.sobject}, cfg.external_id_field: rec.account_id, "Subject": p["subject"][:255],
            "Description": p["body"], "ActivityDate": p["due_date"], "WhatId": what_id,
            "Priority": PRIORITY.get(p["priority"], "Normal"), "Status": "Not Started"}


class SalesforceTasksTarget:
    """Tasks on Accounts, upserted by the alert id (see the module docstring)."""

    name = "salesforce"

    def __init__(self, cfg: SalesforceConfig, tasks: SalesforceTasksConfig) -> None:
        self.cfg, self.tasks = cfg, tasks
        self.batch_size = tasks.batch_size
        self.instance_url = env_secret(cfg.instance_url_env, "Salesforce instance URL").rstrip("/")
        self.token = env_secret(cfg.token_env, "Salesforce access token")

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def accounts(self, client: httpx.Client, batch: Batch) -> dict[str, str] | httpx.Response:
        """account_id -> Salesforce Account Id for the batch's accounts that exist (the answer when the query
        itself was refused)."""
        field = self.cfg.external_id_field
        keys = sorted({r.properties["account_id"] for r in batch.records})
        soql = f"SELECT Id, {field} FROM {self.cfg.sobject} WHERE {field} IN ({', '.join(map(soql_quote, keys))})"
        url = f"{self.instance_url}/services/data/{self.cfg.api_version}/query"
        resp = post(client, "GET", url, f"Salesforce account lookup {batch.seq}", params={"q": soql},
                    headers=self._headers)
        if resp.status_code != 200:
            return resp
        return {str(r[field]): str(r["Id"]) for r in resp.json().get("records") or [] if r.get(field) is not None}

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        found = self.accounts(client, batch)
        if isinstance(found, httpx.Response):
            refused = whole_batch_rejected(batch, found)
            return BatchResult([], {k: f"account lookup refused: {v}" for k, v in refused.rejected.items()})
        missing = {r.account_id: f"no Salesforce {self.cfg.sobject} with {self.cfg.external_id_field} = "
                                 f"{r.properties['account_id']}"
                   for r in batch.records if r.properties["account_id"] not in found}
        todo = Batch(batch.batch_id, batch.seq, [r for r in batch.records if r.account_id not in missing])
        if not todo.records:
            return BatchResult([], missing)
        url = (f"{self.instance_url}/services/data/{self.cfg.api_version}/composite/sobjects/"
               f"{self.tasks.sobject}/{self.tasks.external_id_field}")
        body = {"allOrNone": False,
                "records": [task_record(r, found[r.properties["account_id"]], self.tasks) for r in todo.records]}
        resp = post(client, "PATCH", url, f"Salesforce tasks {batch.seq}", json=body, headers=self._headers)
        out = whole_batch_rejected(todo, resp) if resp.status_code != 200 else parse_response(todo, resp.json())
        return BatchResult(out.acked, {**missing, **out.rejected})
