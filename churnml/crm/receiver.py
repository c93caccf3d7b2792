"""A tiny local webhook receiver: verifies signatures, drops repeated idempotency keys, keeps what it received.

For the demo and for trying the webhook target without a CRM; a real receiver must do the same three things
(check `X-Churnml-Signature` over `timestamp + "." + body`, reject stale timestamps, dedupe on `Idempotency-Key`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from churnml.crm.payload import verify_signature


class WebhookReceiver:
    """Serve on 127.0.0.1 (port 0: a free one) in a background thread; use as a context manager."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0, max_age_s: float = 300.0) -> None:
        self.secret, self.max_age_s = secret, max_age_s
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.deliveries: Counter[str] = Counter()
        self.batches = 0
        self.duplicates = 0
        self.refused = 0
        self._keys: set[str] = set()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/churnml"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accept(self, headers: Any, body: bytes) -> int:
        """Process one request; returns the HTTP status."""
        ts = headers.get("X-Churnml-Timestamp", "")
        if not verify_signature(self.secret, ts, body, headers.get("X-Churnml-Signature", "")):
            self.refused += 1
            return 401
        try:
            if abs(time.time() - float(ts)) > self.max_age_s:
                self.refused += 1
                return 401
        except ValueError:
            return 401
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            if key and key in self._keys:
                self.duplicates += 1
                return 200
            doc = json.loads(body)
            for rec in doc.get("records", []):
                self.records[rec["account_id"]] = rec["properties"]
                self.deliveries[rec["account_id"]] += 1
            self.batches += 1
            if key:
                self._keys.add(key)
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.accept(self.headers, body)
                raw = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler
