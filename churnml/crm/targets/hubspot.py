"""HubSpot CRM v3: `POST /crm/v3/objects/<type>/batch/update`, at most 100 inputs, bearer token.

Each input is `{"id": <account_id>, "idProperty": <unique property>, "properties": {...}}`. A 200 means all
updated; a 207 multi-status lists per-record failures in `errors[]`, each naming its ids in `context.ids`.
Updating the same properties twice leaves the same state, so resending a batch after a crash is harmless.
"""

from __future__ import annotations

import datetime as dt

import httpx

from churnml.crm.mapping import HubSpotConfig
from churnml.crm.payload import Batch
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected


class HubSpotTarget:
    """Batch update of companies matched on `id_property`."""

    name = "hubspot"

    def __init__(self, cfg: HubSpotConfig) -> None:
        self.cfg = cfg
        self.batch_size = cfg.batch_size
        self.token = env_secret(cfg.token_env, "HubSpot token")

    def body(self, batch: Batch) -> dict:
        """The request body of one batch."""
        return {"inputs": [{"id": r.account_id, "idProperty": self.cfg.id_property,
                            "properties": {k: "" if v is None else v for k, v in r.properties.items()}}
                           for r in batch.records]}

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        url = f"{self.cfg.base_url.rstrip('/')}/crm/v3/objects/{self.cfg.object_type}/batch/update"
        resp = post(client, "POST", url, f"HubSpot batch {batch.seq}", json=self.body(batch),
                    headers={"Authorization": f"Bearer {self.token}"})
        if resp.status_code not in (200, 207):
            return whole_batch_rejected(batch, resp)
        return parse_response(batch, resp.json())


def parse_response(batch: Batch, data: dict) -> BatchResult:
    """Per-record outcome from a 200/207 body: ids named in `errors[].context.ids` are rejected."""
    rejected: dict[str, str] = {}
    wanted = {r.account_id for r in batch.records}
    for err in data.get("errors") or []:
        message = f"{err.get('category', 'ERROR')}: {err.get('message', '')}".strip()
        for i in (err.get("context") or {}).get("ids") or []:
            if str(i) in wanted:
                rejected[str(i)] = message
    if data.get("errors") and not rejected:  # errors we cannot pin to a record: refuse the batch's word
        message = "; ".join(str(e.get("message", "")) for e in data["errors"])[:500]
        return BatchResult([], {r.account_id: f"unattributed error: {message}" for r in batch.records})
    return BatchResult([r.account_id for r in batch.records if r.account_id not in rejected], rejected)
