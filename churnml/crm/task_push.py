"""Push a task per routed alert to HubSpot, Salesforce or a chat webhook, exactly once per alert, resumable.

The score push's machinery (`churnml.crm.push`): the same ledger tables, the same mark sent → send with retries →
settle loop, the same retries (429 Retry-After, 5xx, timeouts, dropped connections). What differs:

- the ledger target is `<target>:tasks` ("hubspot:tasks", ...), so task batches never mix with score batches;
- a record's key is its **alert id**, and an alert already in the ledger for that target — of any week, acked,
  rejected or pending — is never planned again: re-running a week, or pushing next week while the alert is still
  open, sends nothing new for it;
- unfinished batches of **every** week are resumed first (a push killed one week is finished by the next push,
  whichever week it is for), unchanged: same records, same batch id;
- each target upserts by the alert id (HubSpot's unique task property, Salesforce's external id field) so a
  batch resent after a kill creates no second task; the chat target sends one message per batch with the alert id
  as `Idempotency-Key` (see `churnml.crm.targets.slack` for what that guarantees against Slack itself).

Callers pass routed alerts only (`churnml.plays.delivery` does); held-out alerts are refused by `task_records`.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from churnml.crm.ledger import PushLedger
from churnml.crm.mapping import TASK_TARGETS, CrmConfig
from churnml.crm.payload import Batch, Record, chunk
from churnml.crm.push import PushReport, send_batches
from churnml.crm.targets.base import Target
from churnml.crm.tasks import ledger_target, task_records


@dataclass
class TaskPushReport(PushReport):
    """What one task push did: `scored` counts the routed alerts given, `unchanged` those already delivered."""

    held_out: int = 0


def make_task_target(cfg: CrmConfig, target: str) -> Target:
    """The task target object for a name (reads its secrets from the environment)."""
    from churnml.crm.targets.hubspot_tasks import HubSpotTasksTarget
    from churnml.crm.targets.salesforce_tasks import SalesforceTasksTarget
    from churnml.crm.targets.slack import SlackTarget

    if target == "hubspot":
        return HubSpotTasksTarget(cfg.hubspot, cfg.tasks.hubspot)
    if target == "salesforce":
        return SalesforceTasksTarget(cfg.salesforce, cfg.tasks.salesforce)
    if target == "slack":
        return SlackTarget(cfg.tasks.slack)
    raise ValueError(f"unknown task target {target!r}; choose one of {', '.join(TASK_TARGETS)}")


def plan_tasks(ledger: PushLedger, records: list[Record], ledger_name: str, batch_size: int,
               as_of: dt.date) -> list[Batch]:
    """New batches for the alerts the ledger has never seen for this target (any week, any status)."""
    known = ledger.keys(ledger_name)
    fresh = [r for r in records if r.account_id not in known]
    seq0 = ledger.next_seq(as_of, ledger_name)
    return [Batch(f"{as_of.isoformat()}-{ledger_name}-{seq0 + i:05d}-{uuid.uuid4().hex[:8]}", seq0 + i, recs)
            for i, recs in enumerate(chunk(fresh, batch_size))]


def push_tasks(
    cfg: CrmConfig,
    store_path: Path | str,
    alerts: pd.DataFrame,
    as_of: dt.date,
    *,
    target: str | None = None,
    held_out: int = 0,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
    target_obj: Target | None = None,
) -> TaskPushReport:
    """Push a task for each of the routed `alerts` not yet delivered to `target` (default `crm.tasks.target`).

    Args:
        alerts: routed alert rows (`churnml.plays.alerts.ALERT_COLUMNS`); a held-out row raises ValueError.
        as_of: the week pushed (names the new batches; unfinished batches of every week are resumed first).
        held_out: how many held-out alerts the caller left out (reported, never sent).
        dry_run: plan only; nothing written to the ledger or sent (`preview` holds a few tasks).

    Raises:
        PushError: a missing secret, refused credentials, or a batch still failing after its retries (the
            ledger keeps it for the next push).
    """
    name = target or cfg.tasks.target
    ledger_name = ledger_target(name)
    records = task_records(alerts, cfg.tasks.due_days)
    tgt = target_obj or make_task_target(cfg, name)
    ledger = PushLedger(store_path)
    report = TaskPushReport(ledger_name, as_of, scored=len(records), dry_run=dry_run, held_out=held_out)
    resumed = ledger.unfinished(None, ledger_name)
    new = plan_tasks(ledger, records, ledger_name, tgt.batch_size, as_of)
    pending = {r.account_id for p in resumed for r in p.batch.records}
    report.resumed_batches = len(resumed)
    report.planned = sum(len(b.records) for b in new) + len(pending)
    report.unchanged = len([r for r in records if r.account_id not in pending]) - sum(len(b.records) for b in new)
    if dry_run:
        report.preview = [{"alert_id": r.account_id, **r.properties} for b in new for r in b.records][:20]
        report.batches = len(new) + len(resumed)
        return report
    ledger.plan(as_of, ledger_name, new)
    todo = [p.batch for p in resumed] + new
    client = httpx.Client(timeout=cfg.retry.timeout_s)
    try:
        with ledger.session():
            send_batches(todo, tgt, client, ledger, as_of, cfg, report, sleep, progress)
    finally:
        client.close()
    return report
