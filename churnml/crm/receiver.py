"""A tiny local webhook receiver: verifies signatures, drops replayed batches, keeps what it received.

For the demo and for trying the webhook target without a CRM; a real receiver must do the same things:

1. refuse a body it cannot afford before reading it: no `Content-Length` (411), one over `max_body_bytes`
   (413), or a body that does not arrive within `read_timeout_s` (408);
2. check `X-Churnml-Signature` over `timestamp + "." + body` in constant time and refuse stale timestamps;
3. deduplicate on the **signed** `batch_id` inside the body, never on the unsigned `Idempotency-Key` header
   alone: anyone who captured a request could replay it with the header removed or changed. A header that
   disagrees with the signed id is refused (400); a body without a `batch_id` is deduplicated on its digest.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from churnml.crm.payload import verify_signature

_CHUNK = 1 << 16


def _status_doc(status: int, error: str | None = None) -> bytes:
    doc: dict[str, Any] = {"ok": status == 200}
    if error:
        doc["error"] = error
    return json.dumps(doc).encode()


class WebhookReceiver:
    """Serve on 127.0.0.1 (port 0: a free one) in a background thread; use as a context manager.

    Args:
        secret: the shared HMAC secret.
        max_age_s: timestamps older (or further in the future) than this are refused as replays.
        max_body_bytes: larger declared bodies get 413 before a byte of them is read.
        read_timeout_s: a request's headers and body must arrive within this (each socket read, and the whole
            body); otherwise 408 and the connection is closed.
    """

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0, max_age_s: float = 300.0,
                 max_body_bytes: int = 16 * 1024 * 1024, read_timeout_s: float = 10.0) -> None:
        self.secret, self.max_age_s = secret, max_age_s
        self.max_body_bytes, self.read_timeout_s = max_body_bytes, read_timeout_s
        self.lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self.deliveries: Counter[str] = Counter()
        self.batches = 0
        self.duplicates = 0
        self.refused = 0
        self.too_large = 0
        self.timed_out = 0
        self._seen: set[str] = set()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/churnml"

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _refuse(self, status: int, why: str) -> tuple[int, str]:
        with self.lock:
            self.refused += 1
        return status, why

    def accept(self, headers: Any, body: bytes) -> tuple[int, str | None]:
        """Process one request's headers and body; returns the HTTP status and, when refused, why."""
        ts = headers.get("X-Churnml-Timestamp", "")
        if not verify_signature(self.secret, ts, body, headers.get("X-Churnml-Signature", "")):
            return self._refuse(401, "bad signature")
        try:
            fresh = abs(time.time() - float(ts)) <= self.max_age_s
        except ValueError:
            fresh = False
        if not fresh:
            return self._refuse(401, "stale or missing timestamp")
        try:
            doc = json.loads(body)
            records = doc.get("records", [])
        except (ValueError, AttributeError):
            return self._refuse(400, "body is not a JSON object")
        signed_id = doc.get("batch_id")
        header_key = headers.get("Idempotency-Key")
        if signed_id is not None and header_key is not None and header_key != str(signed_id):
            return self._refuse(400, "Idempotency-Key does not match the signed batch_id")
        key = f"batch:{signed_id}" if signed_id is not None else "sha256:" + hashlib.sha256(body).hexdigest()
        with self.lock:
            if key in self._seen:
                self.duplicates += 1
                return 200, None
            for rec in records:
                self.records[rec["account_id"]] = rec["properties"]
                self.deliveries[rec["account_id"]] += 1
            self.batches += 1
            self._seen.add(key)
        return 200, None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = receiver.read_timeout_s  # every socket read (headers included) times out

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, error: str | None = None, close: bool = False) -> None:
                """Answer; `close` when the body was not read (the connection cannot be reused)."""
                raw = _status_doc(status, error)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(raw)

            def _read_body(self, length: int) -> bytes | None:
                deadline = time.monotonic() + receiver.read_timeout_s
                parts, got = [], 0
                while got < length:
                    if time.monotonic() > deadline:
                        return None
                    try:
                        part = self.rfile.read1(min(_CHUNK, length - got))
                    except TimeoutError:
                        return None
                    if not part:
                        return None
                    parts.append(part)
                    got += len(part)
                return b"".join(parts)

            def do_POST(self) -> None:
                if self.headers.get("Transfer-Encoding"):
                    self._answer(411, "send a Content-Length (chunked bodies are not accepted)", close=True)
                    return
                declared = self.headers.get("Content-Length")
                if declared is None:
                    self._answer(411, "Content-Length required", close=True)
                    return
                try:
                    length = int(declared)
                except ValueError:
                    length = -1
                if length < 0:
                    self._answer(400, "bad Content-Length", close=True)
                    return
                if length > receiver.max_body_bytes:
                    with receiver.lock:
                        receiver.too_large += 1
                    self._answer(413, f"body too large: at most {receiver.max_body_bytes:,} bytes", close=True)
                    return
                body = self._read_body(length)
                if body is None:
                    with receiver.lock:
                        receiver.timed_out += 1
                    self._answer(408, f"body not received within {receiver.read_timeout_s:g} s", close=True)
                    return
                status, error = receiver.accept(self.headers, body)
                self._answer(status, error)

        return Handler
