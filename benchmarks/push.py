"""Push throughput: 20k accounts to the local signed-webhook receiver and to Parquet, with the ledger.

Measures a first (full) push, a second push with nothing changed (the ledger's "changed only" path) and one
where 5% of scores moved; baseline is the same records POSTed in the same batches with bare httpx (no ledger,
no retries, no hashing). Run: `.venv/bin/python benchmarks/push.py [--accounts N]`; writes docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.report import machine, update_section
from churnml.crm.mapping import CrmConfig, FilesConfig, WebhookConfig
from churnml.crm.payload import build_records, chunk, signature
from churnml.crm.push import push_scores
from churnml.crm.receiver import WebhookReceiver
from churnml.scoring.store import ScoreStore
from tests.support.crm_scores import make_scores

AS_OF = dt.date(2025, 3, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    a = ap.parse_args()
    os.environ["CHURNML_WEBHOOK_SECRET"] = "bench"
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="p6_bench_") as tmp:
        store = Path(tmp) / "scores.duckdb"
        scores = make_scores(a.accounts, AS_OF)
        ScoreStore(store).write(scores)
        with WebhookReceiver("bench") as rx:
            cfg = CrmConfig(webhook=WebhookConfig(url=rx.url, batch_size=a.batch), files=FilesConfig(dir=Path(tmp)))
            # baseline: the same batches, signed, POSTed with bare httpx
            recs = build_records(scores, cfg.webhook.fields)
            t0 = time.perf_counter()
            with httpx.Client() as client:
                for i, b in enumerate(chunk(recs, a.batch)):
                    body = json.dumps({"batch_id": f"raw{i}", "records": [
                        {"account_id": r.account_id, "properties": r.properties} for r in b]}).encode()
                    ts = str(int(time.time()))
                    client.post(rx.url, content=body, headers={"X-Churnml-Timestamp": ts, "Idempotency-Key": f"raw{i}",
                                                              "X-Churnml-Signature": signature("bench", ts, body)})
            base = time.perf_counter() - t0
            rows.append(("bare httpx POSTs (baseline, no ledger)", base, f"{a.accounts:,} records"))
            t0 = time.perf_counter()
            r1 = push_scores(cfg, store, AS_OF)
            rows.append(("churnml push webhook, first push", time.perf_counter() - t0, f"{r1.acked:,} acked"))
            t0 = time.perf_counter()
            r2 = push_scores(cfg, store, AS_OF)
            rows.append(("same week again (all acknowledged)", time.perf_counter() - t0, f"{r2.planned} sent"))
            nxt = AS_OF + dt.timedelta(days=7)
            moved = make_scores(a.accounts, nxt)
            moved.loc[: a.accounts // 20 - 1, "churn_probability"] += 0.05
            ScoreStore(store).write(moved)
            t0 = time.perf_counter()
            r3 = push_scores(cfg, store, nxt)
            rows.append(("next week, 5% of scores moved", time.perf_counter() - t0,
                         f"{r3.acked:,} sent, {r3.unchanged:,} unchanged"))
        t0 = time.perf_counter()
        r4 = push_scores(cfg, store, nxt, target="parquet", full=True)
        rows.append(("Parquet export (--full)", time.perf_counter() - t0, f"{r4.acked:,} rows"))
    first = rows[1][1]
    body = [f"`.venv/bin/python benchmarks/push.py --accounts {a.accounts}` — {a.accounts:,} accounts, webhook "
            f"batches of {a.batch} to the local receiver (signature checked), ledger in the score store's DuckDB "
            f"file. {machine()}; shared machine with other jobs running, so timings are indicative.", "",
            "| run | seconds | records |", "|---|---:|---|"]
    body += [f"| {name} | {sec:.2f} | {what} |" for name, sec, what in rows]
    body += ["", f"Ledger overhead: the first push takes {first / base:.1f}× the bare POSTs "
             f"({a.accounts / first:,.0f} records/s), for exactly-once bookkeeping "
             "(plan, mark sent, settle per batch)."]
    update_section("CRM push", "\n".join(body))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
