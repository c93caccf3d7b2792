"""Salesforce sObject Collections upsert: `PATCH /services/data/vXX.X/composite/sobjects/<sObject>/<ExtIdField>`.

Body `{"allOrNone": false, "records": [{"attributes": {"type": "Account"}, "<ExtIdField>": id, ...}]}`, at most
200 records; the answer is a list in request order of `{"id", "success", "errors": [{"statusCode", "message",
"fields"}], "created"}`. An upsert by external id is idempotent, so a resent batch leaves the same state.
"""

from __future__ import annotations

import datetime as dt

import httpx

from churnml.crm.mapping import SalesforceConfig
from churnml.crm.payload import Batch
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected


class SalesforceTarget:
    """Upsert of Accounts by an external id field."""

    name = "salesforce"

    def __init__(self, cfg: SalesforceConfig) -> None:
        self.cfg = cfg
        self.batch_size = cfg.batch_size
        self.instance_url = env_secret(cfg.instance_url_env, "Salesforce instance URL").rstrip("/")
        self.token = env_secret(cfg.token_env, "Salesforce access token")

    def body(self, batch: Batch) -> dict:
        """The request body of one batch."""
        return {"allOrNone": False, "records": [
            {"attributes": {"type": self.cfg.sobject}, self.cfg.external_id_field: r.account_id, **r.properties}
            for r in batch.records]}

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        url = (f"{self.instance_url}/services/data/{self.cfg.api_version}/composite/sobjects/"
               f"{self.cfg.sobject}/{self.cfg.external_id_field}")
        resp = post(client, "PATCH", url, f"Salesforce batch {batch.seq}", json=self.body(batch),
                    headers={"Authorization": f"Bearer {self.token}"})
        if resp.status_code != 200:
            return whole_batch_rejected(batch, resp)
        return parse_response(batch, resp.json())


def parse_response(batch: Batch, results: list[dict]) -> BatchResult:
    """Per-record outcome; results come back in request order."""
    if not isinstance(results, list) or len(results) != len(batch.records):
        got = len(results) if isinstance(results, list) else type(results).__name__
        return BatchResult([], {r.account_id: f"unexpected response ({got} results for {len(batch.records)})"
                                for r in batch.records})
    out = BatchResult()
    for rec, res in zip(batch.records, results, strict=True):
        if res.get("success"):
            out.acked.append(rec.account_id)
        else:
            errs = res.get("errors") or [{}]
            out.rejected[rec.account_id] = "; ".join(
                f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}"
                + (f" ({', '.join(e['fields'])})" if e.get("fields") else "") for e in errs)
    return out
