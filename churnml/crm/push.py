"""Push one as-of date's scores to a CRM target, exactly once per record, resumable after a crash or kill.

The order of events, each recorded in the ledger (`churnml.crm.ledger`) before the next happens:

1. Unfinished batches of this (as-of, target) from an earlier, interrupted push are resumed first, unchanged
   (same records, same batch id — the idempotency key).
2. New records are those whose payload differs from the account's last acknowledged one for this target,
   minus those already in the ledger for this push (acknowledged or rejected payloads are not sent again).
   With `full` every record is new except those pending in a resumed batch: a date already pushed is sent
   once more, in full. They are planned in batches of the target's size, all recorded as pending in one
   transaction, before anything is sent.
3. Each batch is marked sent, then sent with retries (exponential backoff with jitter; a 429's Retry-After is
   honoured; 5xx, timeouts and dropped connections are retried), then settled: acked and rejected records with
   the CRM's error. Rejections are final for that payload (reported, never retried in a loop).

If retries run out the batch is marked failed, the push stops with `PushError`, and the next push resumes it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from churnml.crm.ledger import PushLedger
from churnml.crm.mapping import CrmConfig, RetryConfig
from churnml.crm.payload import Batch, build_records, chunk, select_changed, with_expected_arr
from churnml.crm.targets.base import BatchResult, PushError, RetryableError, Target
from churnml.scoring.store import ScoreStore


@dataclass
class PushReport:
    """What one push did (or, with `dry_run`, would do)."""

    target: str
    as_of: dt.date
    scored: int = 0
    unchanged: int = 0
    planned: int = 0
    resumed_batches: int = 0
    batches: int = 0
    acked: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    dry_run: bool = False
    preview: list[dict] = field(default_factory=list)


def make_target(cfg: CrmConfig, target: str) -> Target:
    """The target object for a name (reads its secrets from the environment)."""
    from churnml.crm.targets.files import FileTarget
    from churnml.crm.targets.hubspot import HubSpotTarget
    from churnml.crm.targets.salesforce import SalesforceTarget
    from churnml.crm.targets.webhook import WebhookTarget

    cfg.target_config(target)  # unknown names fail here
    if target == "hubspot":
        return HubSpotTarget(cfg.hubspot)
    if target == "salesforce":
        return SalesforceTarget(cfg.salesforce)
    if target == "webhook":
        return WebhookTarget(cfg.webhook)
    return FileTarget(cfg.files, target)


def _wait(cfg: RetryConfig) -> Callable[[RetryCallState], float]:
    jitter = wait_exponential_jitter(initial=cfg.backoff_base_s, max=cfg.backoff_max_s, jitter=cfg.backoff_base_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), cfg.backoff_max_s)
        return float(jitter(state))

    return wait


def send_with_retries(target: Target, client: httpx.Client | None, batch: Batch, as_of: dt.date, cfg: RetryConfig,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[BatchResult, int]:
    """Send one batch, retrying transient failures; returns the result and the number of retries.

    Raises:
        RetryableError: still failing after `cfg.attempts` tries.
        PushError: a fatal failure (e.g. credentials refused).
    """
    retrying = Retrying(stop=stop_after_attempt(cfg.attempts), wait=_wait(cfg),
                        retry=retry_if_exception_type(RetryableError), reraise=True, sleep=sleep)
    result = retrying(target.send, client, batch, as_of)
    return result, retrying.statistics.get("attempt_number", 1) - 1


def plan_push(ledger: PushLedger, scores_records: list, target: Target, as_of: dt.date,
              full: bool) -> tuple[list[Batch], int]:
    """New batches for records not yet acknowledged with this payload (with `full`: every record not pending in
    an unfinished batch); returns them and the unchanged count."""
    last = ledger.last_acked(target.name, as_of)
    changed = select_changed(scores_records, last, full=full)
    known = ledger.known_keys(as_of, target.name, statuses=("pending",) if full else None)
    fresh = [r for r in changed if (r.account_id, r.payload_hash) not in known]
    seq0 = ledger.next_seq(as_of, target.name)
    batches = [Batch(f"{as_of.isoformat()}-{target.name}-{seq0 + i:05d}-{uuid.uuid4().hex[:8]}", seq0 + i, recs)
               for i, recs in enumerate(chunk(fresh, target.batch_size))]
    return batches, len(scores_records) - len(changed)


def push_scores(
    cfg: CrmConfig,
    store_path: Path | str,
    as_of: dt.date,
    *,
    target: str | None = None,
    full: bool = False,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
    target_obj: Target | None = None,
) -> PushReport:
    """Push the scores of `as_of` from the score store at `store_path` to a target; see the module docstring.

    Args:
        cfg: the `crm` settings.
        target: target name (default `cfg.target`).
        full: push every account, not only those whose payload changed since its last acknowledged push.
        dry_run: plan only; nothing is written to the ledger or sent (`preview` holds a few records).
        sleep: how retries wait (tests pass a recorder).
        progress: called with (batches done, batches to do).

    Raises:
        PushError: no scores for `as_of`, missing secret, credentials refused, or a batch still failing after its
            retries (the ledger keeps it for the next push).
    """
    name = target or cfg.target
    tcfg = cfg.target_config(name)
    scores = ScoreStore(store_path).read(as_of)
    if scores.empty:
        raise PushError(f"no scores stored for {as_of} in {store_path}: score that as-of date first")
    if "expected_arr_at_renewal" in tcfg.fields.values():
        from churnml.forecast.store import read_forecast_accounts

        scores = with_expected_arr(scores, read_forecast_accounts(Path(store_path).parent, as_of))
    records = build_records(scores, tcfg.fields, cfg.decimals)
    tgt = target_obj or make_target(cfg, name)
    ledger = PushLedger(store_path)
    report = PushReport(name, as_of, scored=len(records), dry_run=dry_run)
    resumed = ledger.unfinished(as_of, name)
    new, report.unchanged = plan_push(ledger, records, tgt, as_of, full)
    report.resumed_batches = len(resumed)
    report.planned = sum(len(b.records) for b in new) + sum(len(p.batch.records) for p in resumed)
    if dry_run:
        report.preview = [{"account_id": r.account_id, **r.properties} for b in new for r in b.records][:20]
        report.batches = len(new) + len(resumed)
        return report
    ledger.plan(as_of, name, new)
    todo = [p.batch for p in resumed] + new
    client = httpx.Client(timeout=cfg.retry.timeout_s) if name not in ("csv", "parquet") else None
    try:
        with ledger.session():
            send_batches(todo, tgt, client, ledger, as_of, cfg, report, sleep, progress)
    finally:
        if client is not None:
            client.close()
    return report


def send_batches(todo: list[Batch], tgt: Target, client: httpx.Client | None, ledger: PushLedger, as_of: dt.date,
              cfg: CrmConfig, report: PushReport, sleep: Callable[[float], None],
              progress: Callable[[int, int], None] | None) -> None:
    """Mark sent → send with retries → settle, batch after batch (see the module docstring); the task push too."""
    name = report.target
    for i, batch in enumerate(todo):
        if not batch.records:
            ledger.settle(batch.batch_id, [], {})
            continue
        ledger.mark_sent(batch.batch_id)
        try:
            result, retries = send_with_retries(tgt, client, batch, as_of, cfg.retry, sleep)
        except RetryableError as exc:
            ledger.mark_failed(batch.batch_id, str(exc))
            raise PushError(f"{name}: batch {batch.seq} still failing after {cfg.retry.attempts} tries "
                            f"({exc}); {report.acked} records acknowledged, re-run to resume") from exc
        except PushError as exc:
            ledger.mark_failed(batch.batch_id, str(exc))
            raise
        ledger.settle(batch.batch_id, result.acked, result.rejected)
        report.batches += 1
        report.retries += retries
        report.acked += len(result.acked)
        report.rejected.update(result.rejected)
        if progress:
            progress(i + 1, len(todo))
