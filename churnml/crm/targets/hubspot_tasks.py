"""HubSpot tasks for alerts: three idempotent CRM v3/v4 calls per batch, so a resent batch creates nothing twice.

1. `POST /crm/v3/objects/companies/batch/read` with `idProperty` (`crm.hubspot.id_property`): the company
   record id of each account (the score push matches companies the same way). An account with no company is
   rejected ("no HubSpot company ...") and its task is not sent.
2. `POST /crm/v3/objects/tasks/batch/upsert`, each input `{"id": alert_id, "idProperty": "churnml_alert_id",
   "properties": {hs_task_subject, hs_task_body, hs_timestamp, hs_task_priority, hs_task_status, hs_task_type,
   churnml_alert_id}}`: `churnml_alert_id` is a unique-value task property, so the same alert upserts the same
   task (HubSpot's `batch/create` would create a second one on a resend).
3. `POST /crm/v4/associations/tasks/companies/batch/create`: task -> company (HUBSPOT_DEFINED type
   `crm.tasks.hubspot.association_type_id`, 192); associating a pair twice leaves one association.

`hs_timestamp` (the due date) is 12:00 UTC of the due day, which is that calendar day from UTC-11 to UTC+11.
"""

from __future__ import annotations

import datetime as dt

import httpx

from churnml.crm.mapping import HubSpotConfig, HubSpotTasksConfig
from churnml.crm.payload import Batch, Record
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected
from churnml.crm.targets.hubspot import parse_response

PRIORITY = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}


def due_timestamp(due_date: str) -> str:
    """`hs_timestamp` of a due day: ISO 8601 at 12:00 UTC."""
    return f"{dt.date.fromisoformat(due_date).isoformat()}T12:00:00.000Z"


def task_input(rec: Record, id_property: str) -> dict:
    """One upsert input of a task record."""
    p = rec.properties
    return {"id": rec.account_id, "idProperty": id_property, "properties": {
        "hs_task_subject": p["subject"], "hs_task_body": p["body"], "hs_timestamp": due_timestamp(p["due_date"]),
        "hs_task_priority": PRIORITY.get(p["priority"], "MEDIUM"), "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO", id_property: rec.account_id}}


def association_input(task_id: str, company_id: str, type_id: int) -> dict:
    """One v4 association input: task -> company."""
    return {"from": {"id": task_id}, "to": {"id": company_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def _errors(resp: httpx.Response) -> list:
    """The `errors` of a JSON answer (none for an empty or non-JSON body)."""
    try:
        data = resp.json() if resp.content else {}
    except ValueError:
        return []
    return list(data.get("errors") or []) if isinstance(data, dict) else []


class HubSpotTasksTarget:
    """Upserted, company-associated HubSpot tasks (see the module docstring)."""

    name = "hubspot"

    def __init__(self, cfg: HubSpotConfig, tasks: HubSpotTasksConfig) -> None:
        self.cfg, self.tasks = cfg, tasks
        self.batch_size = tasks.batch_size
        self.token = env_secret(cfg.token_env, "HubSpot token")

    def _post(self, client: httpx.Client, path: str, what: str, body: dict) -> httpx.Response:
        return post(client, "POST", f"{self.cfg.base_url.rstrip('/')}{path}", what, json=body,
                    headers={"Authorization": f"Bearer {self.token}"})

    def companies(self, client: httpx.Client, batch: Batch) -> dict[str, str] | httpx.Response:
        """account_id -> HubSpot company id for the batch's accounts that have a company (the answer when the
        lookup itself was refused)."""
        accounts = sorted({r.properties["account_id"] for r in batch.records})
        body = {"idProperty": self.cfg.id_property, "properties": [self.cfg.id_property],
                "inputs": [{"id": a} for a in accounts]}
        resp = self._post(client, f"/crm/v3/objects/{self.cfg.object_type}/batch/read",
                          f"HubSpot company lookup {batch.seq}", body)
        if resp.status_code not in (200, 207):
            return resp
        found = {}
        for res in resp.json().get("results") or []:
            key = (res.get("properties") or {}).get(self.cfg.id_property)
            if key is not None:
                found[str(key)] = str(res["id"])
        return found

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        companies = self.companies(client, batch)
        if isinstance(companies, httpx.Response):
            refused = whole_batch_rejected(batch, companies)
            return BatchResult([], {k: f"company lookup refused: {v}" for k, v in refused.rejected.items()})
        missing = {r.account_id: f"no HubSpot company with {self.cfg.id_property} = {r.properties['account_id']}"
                   for r in batch.records if r.properties["account_id"] not in companies}
        todo = Batch(batch.batch_id, batch.seq, [r for r in batch.records if r.account_id not in missing])
        if not todo.records:
            return BatchResult([], missing)
        resp = self._post(client, "/crm/v3/objects/tasks/batch/upsert", f"HubSpot tasks {batch.seq}",
                          {"inputs": [task_input(r, self.tasks.id_property) for r in todo.records]})
        if resp.status_code not in (200, 201, 207):
            out = whole_batch_rejected(todo, resp)
            return BatchResult([], {**missing, **out.rejected})
        data = resp.json()
        upserted = parse_response(todo, data)
        ids = {str((res.get("properties") or {}).get(self.tasks.id_property)): str(res["id"])
               for res in data.get("results") or []}
        rejected = {**missing, **upserted.rejected}
        pairs = [(r, ids.get(r.account_id)) for r in todo.records if r.account_id in upserted.acked]
        for r, task_id in pairs:
            if task_id is None:
                rejected[r.account_id] = "HubSpot answered the upsert without this task's id"
        pairs = [(r, t) for r, t in pairs if t is not None]
        if not pairs:
            return BatchResult([], rejected)
        body = {"inputs": [association_input(t, companies[r.properties["account_id"]],
                                             self.tasks.association_type_id) for r, t in pairs]}
        assoc = self._post(client, "/crm/v4/associations/tasks/companies/batch/create",
                           f"HubSpot task associations {batch.seq}", body)
        if assoc.status_code not in (200, 201, 207) or _errors(assoc):
            text = assoc.text[:300]
            for r, _ in pairs:
                rejected[r.account_id] = f"task created but not associated with its company: HTTP " \
                                         f"{assoc.status_code}: {text}"
            return BatchResult([], rejected)
        return BatchResult([r.account_id for r, _ in pairs], rejected)
