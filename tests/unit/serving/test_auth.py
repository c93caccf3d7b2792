"""API keys: salted hashes, constant-time checks, roles; 401/403 over HTTP; no keys means no service."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from churnml.config import ApiKey, Settings
from serving.app import ServingConfigError, create_app
from serving.auth import KeyChecker, hash_key, verify_hash
from tests.support.serving_fixtures import READ, SCORE, frame_at, payload
from tests.support.serving_world import ServingWorld


def test_hash_is_salted_and_verifies() -> None:
    a, b = hash_key("s3cret"), hash_key("s3cret")
    assert a != b and a.startswith("scrypt$") and "s3cret" not in a  # fresh salt each time
    assert verify_hash("s3cret", a) and verify_hash("s3cret", b)
    assert not verify_hash("s3cret!", a) and not verify_hash("", a)
    assert not verify_hash("s3cret", "scrypt$broken") and not verify_hash("s3cret", "md5$x$y$z$a$b")
    with pytest.raises(ValueError):
        hash_key("")


def test_checker_roles_and_cache() -> None:
    keys = [ApiKey(name="r", role="read", hash=hash_key("k-read")),
            ApiKey(name="s", role="score", hash=hash_key("k-s"))]
    checker = KeyChecker(keys)
    assert checker.check(None) is None and checker.check("nope") is None
    assert checker.cached("k-read") is None  # not verified yet
    who = checker.check("k-read")
    assert who is not None and who.name == "r" and not who.can_score()
    assert checker.cached("k-read") == who  # remembered after one verification
    assert checker.cached("nope") is None  # wrong keys never remembered
    assert checker.check("k-s").can_score()


def test_missing_and_wrong_key_get_401(client: TestClient) -> None:
    for path in ("/v1/accounts", "/v1/model", "/v1/accounts/A000001"):
        r = client.get(path)
        assert r.status_code == 401 and r.json() == {"detail": "missing API key: send it in the X-API-Key header"}
        r = client.get(path, headers={"X-API-Key": "not-a-key"})
        assert r.status_code == 401 and r.json()["detail"] == "invalid API key"
    assert client.post("/v1/score", json={"accounts": []}).status_code == 401


def test_read_only_key_cannot_score(client: TestClient, serving_world: ServingWorld) -> None:
    body = payload(frame_at(serving_world, serving_world.dates[-1]).head(1))
    r = client.post("/v1/score", json=body, headers=READ)
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    assert client.get("/v1/accounts", headers=READ).status_code == 200
    assert client.post("/v1/score", json=body, headers=SCORE).status_code == 200


def test_probes_and_metrics_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_no_keys_refused_unless_anonymous_allowed(serving_world: ServingWorld, no_tracking_env: None) -> None:
    base = serving_world.settings
    open_settings = Settings(**{**base.model_dump(), "serving": {"api_keys": [], "reload_seconds": 0}})
    with pytest.raises(ServingConfigError, match="no API keys configured"):
        create_app(open_settings)
    anon = Settings(**{**base.model_dump(), "serving": {"api_keys": [], "allow_anonymous": True,
                                                           "reload_seconds": 0}})
    with TestClient(create_app(anon)) as c:
        assert c.get("/v1/model").status_code == 200
