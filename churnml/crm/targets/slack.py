"""A chat incoming webhook (Slack-compatible Block Kit): one message per alert, one POST per message.

The body is `{"text": <fallback>, "blocks": [header, section with fields, section, context]}`: the header names
the play and the account, the fields the cause, risk, MRR and due date, the next section what changed and the top
reasons, the context the alert id. Block Kit limits are respected (header 150 characters, a field 2,000, a
section's text 3,000; at most 10 fields). A 2xx acknowledges the message; Slack answers errors as plain text
(`invalid_blocks`, `no_service`, ...), which reject the alert with that text.

Exactly once: batches hold one message, so a crash can leave at most that one message unrecorded. Each request
carries `Idempotency-Key: <alert id>`; a receiver that honours it (a relay, or a chat gateway) drops the repeat.
Slack's own incoming webhooks ignore the header, so against Slack itself the one message in flight when the
pusher was killed may appear twice; every other message is posted once (docs/delivery.md).
"""

from __future__ import annotations

import datetime as dt
import json

import httpx

from churnml.crm.mapping import SlackConfig
from churnml.crm.payload import Batch, Record
from churnml.crm.targets.base import BatchResult, env_secret, post, whole_batch_rejected
from churnml.crm.targets.webhook import IDEMPOTENCY_HEADER
from churnml.crm.tasks import play_title


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _esc(text: object) -> str:
    """Text for a mrkdwn object: `&`, `<` and `>` escaped (Slack reads `<...>` as links and mentions)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(rec: Record) -> dict:
    """The incoming-webhook JSON of one task record."""
    p = rec.properties
    mrr = "unknown" if p.get("mrr") is None else f"{p['mrr']:,.0f}"
    fields = [("Account", _esc(p["account_id"])), ("Cause", _esc(p["cause"])),
              ("Churn risk", f"{p['churn_probability']:.0%} ({p['risk_band']})"), ("MRR", mrr),
              ("Due", p["due_date"]), ("Priority", p["priority"])]
    changed = (f"*What changed:* {_esc(p['detail'] or 'no detail recorded')}\n"
               f"*Top reasons:* {_esc(p['reasons'] or 'none')}")
    return {
        "text": _cut(f"{p['subject']}: {p['detail']}", 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(p["subject"], 150), "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{_esc(play_title(p['play']))}*", 3000)},
             "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{v}", 2000)} for k, v in fields]},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(changed, 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"churnml alert `{_esc(rec.account_id)}`"}]},
        ],
    }


class SlackTarget:
    """Posts one Block Kit message per alert to the webhook URL read from the environment."""

    name = "slack"
    batch_size = 1

    def __init__(self, cfg: SlackConfig) -> None:
        self.cfg = cfg
        self.url = env_secret(cfg.url_env, "chat incoming-webhook URL")

    def send(self, client: httpx.Client, batch: Batch, as_of: dt.date) -> BatchResult:
        acked, rejected = [], {}
        for rec in batch.records:
            body = json.dumps(message(rec), ensure_ascii=False).encode()
            resp = post(client, "POST", self.url, f"chat message {batch.seq}", content=body,
                        headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: rec.account_id})
            if 200 <= resp.status_code < 300:
                acked.append(rec.account_id)
            else:
                rejected.update(whole_batch_rejected(Batch(batch.batch_id, batch.seq, [rec]), resp).rejected)
        return BatchResult(acked, rejected)
