"""Local fake CRMs for the push tests: HubSpot, Salesforce and webhook request/response shapes, with faults.

A threaded `http.server` on port 0. It checks auth (bearer token, or the webhook's HMAC signature), batch limits
and the documented body shapes; rejects the ids in `reject` per record; counts deliveries per account (the
webhook dedupes by Idempotency-Key, answering a repeated key as before); and injects faults by request number:
"429" (with Retry-After), "500", "timeout" (sleeps past the client's timeout, then drops), "drop" (closes the
connection without an answer), "kill" (applies the batch, SIGKILLs `kill_pid`, then drops: the pusher dies
between the CRM's commit and its own ledger write, the worst moment).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from churnml.crm.payload import verify_signature

HUBSPOT_PATH = "/crm/v3/objects/companies/batch/update"
SF_PATH = "/services/data/v61.0/composite/sobjects/Account/Churnml_Account_Id__c"
WEBHOOK_PATH = "/hook"
LIMITS = {"hubspot": 100, "salesforce": 200, "webhook": 10_000}


class FakeCrm:
    """One fake CRM of a given kind; use as a context manager (`url` is its base URL)."""

    def __init__(self, kind: str, *, token: str = "tok", secret: str = "s3cret", reject: set[str] | None = None,
                 faults: dict[int, str] | None = None, retry_after: str = "1", timeout_sleep: float = 1.0,
                 fault_fn: Callable[[int], str | None] | None = None) -> None:
        self.kind, self.token, self.secret = kind, token, secret
        self.reject = reject or set()
        self.faults = dict(faults or {})
        self.fault_fn = fault_fn
        self.retry_after, self.timeout_sleep = retry_after, timeout_sleep
        self.kill_pid: int | None = None
        self.lock = threading.Lock()
        self.requests = 0
        self.deliveries: Counter[str] = Counter()
        self.state: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, bytes] = {}
        self.duplicate_keys = 0
        self.batch_sizes: list[int] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeCrm:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ the API shapes

    def _apply(self, account: str, props: dict[str, Any]) -> None:
        self.deliveries[account] += 1
        self.state[account] = props

    def hubspot(self, body: dict) -> tuple[int, dict]:
        inputs = body["inputs"]
        errors, results = [], []
        for item in inputs:
            assert item["idProperty"] == "churnml_account_id" and isinstance(item["properties"], dict)
            if item["id"] in self.reject:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": "Could not get some COMPANY objects", "context": {"ids": [item["id"]]}})
            else:
                self._apply(item["id"], item["properties"])
                results.append({"id": f"hs-{item['id']}", "properties": item["properties"]})
        if errors:
            return 207, {"status": "COMPLETE", "results": results, "numErrors": len(errors), "errors": errors}
        return 200, {"status": "COMPLETE", "results": results}

    def salesforce(self, body: dict) -> tuple[int, list]:
        assert body["allOrNone"] is False
        out = []
        for rec in body["records"]:
            assert rec["attributes"] == {"type": "Account"}
            key = rec["Churnml_Account_Id__c"]
            if key in self.reject:
                out.append({"success": False, "created": False, "errors": [
                    {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "risk band locked",
                     "fields": ["Churn_Risk_Band__c"]}]})
            else:
                created = key not in self.state
                self._apply(key, {k: v for k, v in rec.items() if k != "attributes"})
                out.append({"id": f"001{key}", "success": True, "errors": [], "created": created})
        return 200, out

    def webhook(self, body: dict) -> tuple[int, dict]:
        rejected = []
        for rec in body["records"]:
            if rec["account_id"] in self.reject:
                rejected.append({"account_id": rec["account_id"], "error": "unknown account"})
            else:
                self._apply(rec["account_id"], rec["properties"])
        return 200, {"received": len(body["records"]), "rejected": rejected}

    # ------------------------------------------------------------------ HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> bytes:
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)
                return raw

            def _drop(self) -> None:
                self.close_connection = True

            def do_POST(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with crm.lock:
                    crm.requests += 1
                    n = crm.requests
                fault = crm.faults.pop(n, None) or (crm.fault_fn(n) if crm.fault_fn else None)
                if fault == "429":
                    self._send(429, {"message": "rate limited"}, {"Retry-After": crm.retry_after})
                    return
                if fault == "500":
                    self._send(500, {"message": "internal error"})
                    return
                if fault == "timeout":
                    time.sleep(crm.timeout_sleep)
                    self._drop()
                    return
                if fault == "drop":
                    self._drop()
                    return
                expected = {"hubspot": HUBSPOT_PATH, "salesforce": SF_PATH, "webhook": WEBHOOK_PATH}[crm.kind]
                if self.path != expected:
                    self._send(404, {"message": f"no route {self.path}"})
                    return
                if crm.kind == "webhook":
                    ok = verify_signature(crm.secret, self.headers.get("X-Churnml-Timestamp", ""), raw,
                                          self.headers.get("X-Churnml-Signature", ""))
                else:
                    ok = self.headers.get("Authorization") == f"Bearer {crm.token}"
                if not ok:
                    self._send(401, {"message": "authentication failed"})
                    return
                body = json.loads(raw)
                items = body.get("inputs") or body.get("records") or []
                if len(items) > LIMITS[crm.kind]:
                    self._send(400, {"message": f"too many records: {len(items)} > {LIMITS[crm.kind]}"})
                    return
                with crm.lock:
                    key = self.headers.get("Idempotency-Key")
                    if crm.kind == "webhook" and key in crm.keys:
                        crm.duplicate_keys += 1
                        cached = crm.keys[key]
                    else:
                        crm.batch_sizes.append(len(items))
                        status, doc = getattr(crm, crm.kind)(body)
                        cached = json.dumps([status, doc]).encode()
                        if key:
                            crm.keys[key] = cached
                status, doc = json.loads(cached)
                if fault == "kill" and crm.kill_pid:
                    os.kill(crm.kill_pid, signal.SIGKILL)
                    self._drop()
                    return
                self._send(status, doc)

        return Handler
