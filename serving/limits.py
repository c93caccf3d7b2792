"""Request body size limit (ASGI): larger bodies get 413 before they are parsed.

A declared Content-Length over the limit is refused at once; a body without one (chunked) is counted as it
arrives: past the limit the app is handed an ended body and whatever it answers is replaced by the 413.
"""

from __future__ import annotations

import json
from typing import Any


async def _send_413(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: at most {limit:,} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
        seen = {"n": 0, "over": False}

        async def limited_receive() -> dict[str, Any]:
            if seen["over"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > self.max_bytes:
                    seen["over"] = True  # the app sees an empty end of body; its answer is replaced below
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        replaced = {"done": False}

        async def checked_send(message: dict[str, Any]) -> None:
            if seen["over"]:
                if not replaced["done"]:
                    replaced["done"] = True
                    await _send_413(send, self.max_bytes)
                return
            await send(message)

        await self.app(scope, limited_receive, checked_send)
