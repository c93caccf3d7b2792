"""The weekly job's entry point, for cron, Airflow, Prefect or Dagster (see deploy/ and docs/delivery.md).

Run: `python -m pipelines.weekly_retrain [--config FILE] [--as-of DATE] [--data DIR] [--no-push] [--to TARGET]
[--force] [--local-webhook]`. Exit code 0 when the week succeeded (or was already done), 1 with one line on
stderr otherwise. `--local-webhook` serves a tiny signed-webhook receiver in this process and pushes to it (the
demo: no CRM needed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from pathlib import Path

from churnml.config import Settings, load_settings


def run(settings: Settings, *, as_of: dt.date | None = None, data: Path | None = None, push: bool | None = None,
        target: str | None = None, force: bool = False, local_webhook: bool = False) -> int:
    """Run the week once; print a short report; return the exit code."""
    from churnml.jobs.weekly import RetrainError, run_weekly

    try:
        if not local_webhook:
            result = run_weekly(settings, as_of=as_of, data=data, push=push, target=target, force=force)
        else:
            from churnml.crm.receiver import WebhookReceiver

            secret = os.environ.get(settings.crm.webhook.secret_env) or secrets.token_hex(16)
            os.environ[settings.crm.webhook.secret_env] = secret
            with WebhookReceiver(secret) as receiver:
                settings.crm.webhook.url = receiver.url
                result = run_weekly(settings, as_of=as_of, data=data, push=True, target="webhook", force=force)
                print(f"local webhook {receiver.url}: {len(receiver.records):,} accounts received in "
                      f"{receiver.batches} signed batches ({receiver.duplicates} repeated batches dropped)")
    except RetrainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.status == "skipped":
        print(f"week {result.week} already done; summary: {result.summary_path} (--force to run it again)")
        return 0
    verdict = "promoted to champion" if result.promoted else "stays challenger"
    print(f"week {result.week}: challenger v{result.version} {verdict} — {result.reason}")
    if result.push is not None:
        print(f"pushed to {result.push.target}: {result.push.acked:,} acknowledged, "
              f"{len(result.push.rejected):,} rejected, {result.push.unchanged:,} unchanged")
    print(f"summary: {result.summary_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="weekly_retrain", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path)
    p.add_argument("--as-of", type=dt.date.fromisoformat)
    p.add_argument("--data", type=Path)
    p.add_argument("--no-push", action="store_true")
    p.add_argument("--to", choices=["hubspot", "salesforce", "webhook", "csv", "parquet"])
    p.add_argument("--force", action="store_true")
    p.add_argument("--local-webhook", action="store_true", help="Serve a local signed-webhook receiver and push to it.")
    a = p.parse_args(argv)
    try:
        settings = load_settings(a.config)
    except (OSError, ValueError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return run(settings, as_of=a.as_of, data=a.data, push=False if a.no_push else None, target=a.to, force=a.force,
               local_webhook=a.local_webhook)


if __name__ == "__main__":
    raise SystemExit(main())
