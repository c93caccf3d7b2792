"""Generic webhook: signed JSON batches for any other CRM or data pipeline.

Headers: `X-Churnml-Timestamp` (unix seconds), `X-Churnml-Signature: sha256=<hex HMAC-SHA256 over timestamp + "."
+ body>` with the secret from the environment, and `Idempotency-Key: <batch id>`. A webhook POST is not
idempotent by nature: after a crash the same batch may be sent again with the same id, and the receiver must
drop a batch whose signed `batch_id` (in the body; the header is not signed) it has already processed,
answering as before. A 2xx acknowledges the batch; an optional JSON
`{"rejected": [{"account_id", "error"}]}` names refused records.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx

from churnml.crm.mapping import WebhookConfig
from churnml.crm.payload import Batch, signature
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected

IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookTarget:
    """Signed POSTs of JSON batches."""

    name = "webhook"

    def __init__(self, cfg: WebhookConfig) -> None:
        self.cfg = cfg
        self.batch_size = cfg.batch_size
        self.secret = env_secret(cfg.secret_env, "webhook signing secret")

    def body(self, batch: Batch, as_of: dt.date) -> bytes:
        """The request body: the batch id, the as-of date and the records."""
        doc = {"batch_id": batch.batch_id, "as_of": as_of.isoformat(),
               "records": [{"account_id": r.account_id, "properties": r.properties} for r in batch.records]}
        return json.dumps(doc, sort_keys=True, default=str).encode()

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        body = self.body(batch, as_of)
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Churnml-Timestamp": ts,
                   "X-Churnml-Signature": signature(self.secret, ts, body), IDEMPOTENCY_HEADER: batch.batch_id}
        resp = post(client, "POST", self.cfg.url, f"webhook batch {batch.seq}", content=body, headers=headers)
        if not 200 <= resp.status_code < 300:
            return whole_batch_rejected(batch, resp)
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {}
        rejected = {str(x["account_id"]): str(x.get("error", "rejected"))
                    for x in (data.get("rejected") or []) if isinstance(data, dict)}
        return BatchResult([r.account_id for r in batch.records if r.account_id not in rejected], rejected)
