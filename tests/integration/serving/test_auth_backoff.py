"""Wrong keys must not slow everyone (issue 20, item 2): per-client backoff with 429 + Retry-After, no scrypt
check for a blocked client, and a key that already verified is never held up. The load figures (good p95 under
a flood of wrong keys) are `benchmarks/abuse.py`'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from churnml.config import AuthLimits, Settings
from serving.app import create_app
from serving.auth import KeyChecker
from serving.limits import FailureBackoff
from tests.support.serving_fixtures import frame_at, payload
from tests.support.serving_world import SCORE_KEY, ServingWorld

FORM = {"content-type": "application/x-www-form-urlencoded", "Origin": "http://testserver"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_is_capped_and_cleared() -> None:
    clock = Clock()
    b = FailureBackoff(AuthLimits(free_failures=2, backoff_s=1, backoff_max_s=5, forget_s=60), clock)
    for _ in range(2):
        b.failed("a")
        assert b.retry_after("a") == 0  # the free failures
    waits = []
    for _ in range(5):
        b.failed("a")
        waits.append(b.retry_after("a"))
    assert waits == [1, 2, 4, 5, 5]
    assert b.retry_after("b") == 0  # per address
    clock.now += 5
    assert b.retry_after("a") == 0
    b.succeeded("a")
    b.failed("a")
    assert b.retry_after("a") == 0  # a success cleared the count
    b.failed("a")
    clock.now += 61  # quiet for longer than forget_s: the count starts again
    b.failed("a")
    assert b.retry_after("a") == 0


@pytest.fixture()
def guarded(serving_world: ServingWorld, no_tracking_env: None,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, list[str]]]:
    """A fresh app (its own backoff state) allowing 3 free failures and a 30 s first backoff; yields the client
    and the list of keys that reached a scrypt check."""
    checked: list[str] = []
    original = KeyChecker.check

    def counting(self: KeyChecker, presented: str | None) -> object:
        if presented and self.cached(presented) is None:
            checked.append(presented)
        return original(self, presented)

    monkeypatch.setattr(KeyChecker, "check", counting)
    base = serving_world.settings.model_dump()
    limits = {"free_failures": 3, "backoff_s": 30, "backoff_max_s": 300, "check_workers": 1, "check_queue": 4}
    settings = Settings(**{**base, "serving": {**base["serving"], "auth_limits": limits}})
    with TestClient(create_app(settings)) as c:
        yield c, checked


def test_a_client_that_keeps_failing_gets_429_without_a_check_and_good_keys_still_pass(
        guarded: tuple[TestClient, list[str]], serving_world: ServingWorld,
        record_property: Callable[[str, object], None]) -> None:
    c, checked = guarded
    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(1))
    assert c.post("/v1/score", json=body, headers={"X-API-Key": SCORE_KEY}).status_code == 200  # verified once
    for i in range(4):  # 3 free failures, and the 4th that starts the backoff: each is a real (failed) check
        assert c.get("/v1/model", headers={"X-API-Key": f"wrong-{i}"}).status_code == 401
    assert len(checked) == 5
    r = c.get("/v1/model", headers={"X-API-Key": "wrong-again"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 30 and "Retry in 30 s" in r.json()["detail"]
    assert len(checked) == 5  # blocked: no scrypt check was run
    login = c.post("/login", content="key=wrong&next=/", headers=FORM, follow_redirects=False)
    assert login.status_code == 429 and "retry-after" in login.headers and "Too many" in login.text
    # the verified key is never held up, from the very address that is blocked
    assert c.post("/v1/score", json=body, headers={"X-API-Key": SCORE_KEY}).status_code == 200
    assert c.get("/v1/model", headers={"X-API-Key": SCORE_KEY}).status_code == 200
    assert len(checked) == 5
    record_property("3 free failures, backoff 30 s", f"401 × 4 (scrypt checks: {len(checked)}, one the good key's), "
                    f"then 429 with Retry-After {r.headers['retry-after']} s and no check; the verified key: 200")
