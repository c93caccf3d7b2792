"""A local stand-in for the task APIs: HubSpot tasks, Salesforce Tasks and a Slack-style incoming webhook, with faults.

Like `tests.support.fake_crm.FakeCrm` (same fault injection by request number: "429" with Retry-After, "500",
"timeout", "drop", and "kill": apply the request, SIGKILL `kill_pid`, drop the connection), but speaking the task
endpoints and keeping what a CSM would see:

- HubSpot: `companies/batch/read` by `idProperty`, `tasks/batch/upsert` by the unique `churnml_alert_id`
  (a unique-value property: the same value updates the same task), `v4 associations tasks/companies/batch/create`
  (a pair associated twice is one association). `created[alert]` counts tasks created, `writes[alert]` upserts.
- Salesforce: SOQL `query` of Accounts by external id, `composite/sobjects/Task/Churnml_Alert_Id__c` upsert
  (external id: a second upsert updates). Same counters.
- Slack: `POST /services/T000/B000/XXXX`, Block Kit checked (header ≤ 150 characters, ≤ 10 fields, ≤ 50 blocks);
  answers "ok" as Slack does. `created[alert]` counts messages posted in the channel. With `honour_key` the
  Idempotency-Key header is honoured (a relay in front of the chat); without, every POST is posted (Slack).

Every request body is checked against the shapes the targets document; a wrong shape answers 400 with the reason.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HS_READ = "/crm/v3/objects/companies/batch/read"
HS_UPSERT = "/crm/v3/objects/tasks/batch/upsert"
HS_ASSOC = "/crm/v4/associations/tasks/companies/batch/create"
SF_QUERY = "/services/data/v61.0/query"
SF_UPSERT = "/services/data/v61.0/composite/sobjects/Task/Churnml_Alert_Id__c"
SLACK_PATH = "/services/T000/B000/XXXX"
HS_TASK_KEYS = {"hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_priority", "hs_task_status",
                "hs_task_type", "churnml_alert_id"}


class Refused(Exception):
    """A request whose shape the real API would refuse (answered 400 with the reason)."""


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise Refused(why)


class FakeTaskCrm:
    """One stand-in of a kind (hubspot | salesforce | slack); a context manager. `url` is its base URL."""

    def __init__(self, kind: str, *, token: str = "tok", accounts: set[str] | None = None,
                 reject: set[str] | None = None, faults: dict[int, str] | None = None, retry_after: str = "1",
                 timeout_sleep: float = 1.0, fault_fn: Callable[[int], str | None] | None = None,
                 honour_key: bool = True) -> None:
        self.kind, self.token = kind, token
        self.accounts = accounts  # accounts with a company / Account in the CRM (None: every account)
        self.reject = reject or set()
        self.faults, self.fault_fn = dict(faults or {}), fault_fn
        self.retry_after, self.timeout_sleep, self.honour_key = retry_after, timeout_sleep, honour_key
        self.kill_pid: int | None = None
        self.lock = threading.Lock()
        self.requests = 0
        self.paths: list[str] = []
        self.created: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.tasks: dict[str, dict[str, Any]] = {}  # alert id -> the task (or message) as the CRM holds it
        self.associations: set[tuple[str, str]] = set()
        self.keys_seen: set[str] = set()
        self.duplicate_keys = 0
        self.batch_sizes: list[int] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeTaskCrm:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _has(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    # ------------------------------------------------------------------ HubSpot

    def hs_read(self, body: dict) -> tuple[int, Any]:
        _need(body.get("idProperty") == "churnml_account_id", "idProperty must be the unique company property")
        results, errors = [], []
        for item in body["inputs"]:
            if self._has(item["id"]):
                results.append({"id": f"9{item['id']}", "properties": {"churnml_account_id": item["id"]}})
            else:
                errors.append({"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": [item["id"]]}})
        return (207 if errors else 200), {"status": "COMPLETE", "results": results, "errors": errors}

    def hs_upsert(self, body: dict) -> tuple[int, Any]:
        results, errors = [], []
        for item in body["inputs"]:
            props = item["properties"]
            _need(item.get("idProperty") == "churnml_alert_id", "idProperty must be churnml_alert_id")
            _need(set(props) == HS_TASK_KEYS, f"task properties {sorted(props)}")
            _need(props["churnml_alert_id"] == item["id"], "churnml_alert_id differs from the upsert id")
            _need(re.fullmatch(r"\d{4}-\d\d-\d\dT12:00:00\.000Z", props["hs_timestamp"]) is not None,
                  f"hs_timestamp {props['hs_timestamp']!r}")
            _need(props["hs_task_priority"] in ("LOW", "MEDIUM", "HIGH"), "hs_task_priority")
            alert = item["id"]
            if alert in self.reject:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": "Property values "
                               "were not valid", "context": {"ids": [alert]}})
                continue
            new = alert not in self.tasks
            task_id = self.tasks[alert]["id"] if not new else str(700000 + len(self.tasks))
            self.tasks[alert] = {"id": task_id, **props}
            self.created[alert] += new
            self.writes[alert] += 1
            results.append({"id": task_id, "new": new, "properties": dict(props)})
        return (207 if errors else 200), {"status": "COMPLETE", "results": results, "errors": errors}

    def hs_assoc(self, body: dict) -> tuple[int, Any]:
        ids = {t["id"] for t in self.tasks.values()}
        for item in body["inputs"]:
            _need(item["types"] == [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
                  "association type must be HUBSPOT_DEFINED 192 (task to company)")
            _need(item["from"]["id"] in ids, f"no task {item['from']['id']}")
            _need(item["to"]["id"].startswith("9"), f"no company {item['to']['id']}")
            self.associations.add((item["from"]["id"], item["to"]["id"]))
        return 201, {"status": "COMPLETE", "results": []}

    # ------------------------------------------------------------------ Salesforce

    def sf_query(self, query: str) -> tuple[int, Any]:
        m = re.fullmatch(r"SELECT Id, Churnml_Account_Id__c FROM Account WHERE Churnml_Account_Id__c IN \((.*)\)",
                         query)
        _need(m is not None, f"unexpected SOQL {query!r}")
        keys = re.findall(r"'((?:[^'\\]|\\.)*)'", m.group(1))  # type: ignore[union-attr]
        recs = [{"attributes": {"type": "Account"}, "Id": f"001{k}", "Churnml_Account_Id__c": k}
                for k in keys if self._has(k)]
        return 200, {"totalSize": len(recs), "done": True, "records": recs}

    def sf_upsert(self, body: dict) -> tuple[int, Any]:
        _need(body.get("allOrNone") is False, "allOrNone must be false")
        out = []
        for rec in body["records"]:
            _need(rec["attributes"] == {"type": "Task"}, "attributes.type must be Task")
            _need(set(rec) == {"attributes", "Churnml_Alert_Id__c", "Subject", "Description", "ActivityDate",
                               "WhatId", "Priority", "Status"}, f"Task fields {sorted(rec)}")
            _need(re.fullmatch(r"\d{4}-\d\d-\d\d", rec["ActivityDate"]) is not None, "ActivityDate")
            _need(rec["WhatId"].startswith("001"), "WhatId must be an Account Id")
            _need(rec["Priority"] in ("High", "Normal", "Low"), "Priority")
            alert = rec["Churnml_Alert_Id__c"]
            if alert in self.reject:
                out.append({"success": False, "created": False, "errors": [
                    {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "task locked", "fields": []}]})
                continue
            new = alert not in self.tasks
            task_id = self.tasks[alert]["Id"] if not new else f"00T{len(self.tasks):012d}"
            self.tasks[alert] = {"Id": task_id, **{k: v for k, v in rec.items() if k != "attributes"}}
            self.created[alert] += new
            self.writes[alert] += 1
            out.append({"id": task_id, "success": True, "errors": [], "created": new})
        return 200, out

    # ------------------------------------------------------------------ Slack

    def slack(self, body: dict, key: str | None) -> tuple[int, Any]:
        blocks = body.get("blocks")
        _need(isinstance(body.get("text"), str) and isinstance(blocks, list) and 0 < len(blocks) <= 50, "blocks")
        _need(blocks[0]["type"] == "header" and blocks[0]["text"]["type"] == "plain_text"
              and len(blocks[0]["text"]["text"]) <= 150, "header")
        fields = blocks[1].get("fields") or []
        _need(blocks[1]["type"] == "section" and 0 < len(fields) <= 10, "section fields")
        _need(all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in fields), "field text")
        _need(blocks[-1]["type"] == "context", "context")
        alert = re.search(r"`([^`]+)`", blocks[-1]["elements"][0]["text"]).group(1)  # type: ignore[union-attr]
        if self.honour_key and key is not None and key in self.keys_seen:
            self.duplicate_keys += 1
            return 200, "ok"
        if alert in self.reject:
            return 400, "invalid_blocks"
        if key is not None:
            self.keys_seen.add(key)
        self.tasks[alert] = body
        self.created[alert] += 1
        self.writes[alert] += 1
        return 200, "ok"

    # ------------------------------------------------------------------ HTTP

    def _route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
               headers: Any) -> tuple[int, Any]:
        routes = {"hubspot": {("POST", HS_READ), ("POST", HS_UPSERT), ("POST", HS_ASSOC)},
                  "salesforce": {("GET", SF_QUERY), ("PATCH", SF_UPSERT)}, "slack": {("POST", SLACK_PATH)}}
        if (method, path) not in routes[self.kind]:
            return 404, {"message": f"no route {method} {path}"}
        if self.kind != "slack" and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "authentication failed"}
        if method == "GET":
            return self.sf_query(query["q"][0])
        body = json.loads(raw)
        items = body.get("inputs") or body.get("records") or []
        limit = {"hubspot": 100, "salesforce": 200, "slack": 1}[self.kind]
        if len(items) > limit:
            return 400, {"message": f"too many records: {len(items)} > {limit}"}
        self.batch_sizes.append(len(items) or 1)
        if path == HS_READ:
            return self.hs_read(body)
        if path == HS_UPSERT:
            return self.hs_upsert(body)
        if path == HS_ASSOC:
            return self.hs_assoc(body)
        if path == SF_UPSERT:
            return self.sf_upsert(body)
        return self.slack(body, headers.get("Idempotency-Key"))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                text = isinstance(doc, str)
                raw = doc.encode() if text else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def _handle(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parsed = urllib.parse.urlsplit(self.path)
                with crm.lock:
                    crm.requests += 1
                    n = crm.requests
                    crm.paths.append(parsed.path)
                fault = crm.faults.pop(n, None) or (crm.fault_fn(n) if crm.fault_fn else None)
                if fault in ("429", "500"):
                    self._send(int(fault), {"message": "rate limited" if fault == "429" else "internal error"},
                               {"Retry-After": crm.retry_after} if fault == "429" else None)
                    return
                if fault in ("timeout", "drop"):
                    if fault == "timeout":
                        time.sleep(crm.timeout_sleep)
                    self.close_connection = True
                    return
                with crm.lock:
                    try:
                        status, doc = crm._route(method, parsed.path, urllib.parse.parse_qs(parsed.query), raw,
                                                 self.headers)
                    except Refused as exc:
                        status, doc = 400, {"message": f"refused: {exc}"}
                if fault == "kill" and crm.kill_pid:
                    os.kill(crm.kill_pid, signal.SIGKILL)
                    self.close_connection = True
                    return
                self._send(status, doc)

        return Handler
