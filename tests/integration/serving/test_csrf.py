"""Login CSRF: the login and logout forms refuse posts a browser says come from another site."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from churnml.config import Settings
from serving.app import create_app
from tests.support.serving_world import READ_KEY, ServingWorld

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture()
def web(client: TestClient) -> Iterator[TestClient]:
    client.cookies.clear()
    yield client
    client.cookies.clear()


def _login(c: TestClient, **headers: str) -> object:
    return c.post("/login", content=f"key={READ_KEY}&next=/", headers={**FORM, **headers}, follow_redirects=False)


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # sandboxed frames and some redirects
    {"Referer": "https://evil.example/page.html"},
    {"Origin": "http://testserver.evil.example"},
])
def test_login_from_a_foreign_origin_sets_no_session(web: TestClient, headers: dict[str, str]) -> None:
    r = _login(web, **headers)
    assert r.status_code == 403 and "not from this site" in r.text
    assert "set-cookie" not in r.headers and "churnml_session" not in web.cookies
    assert web.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_same_origin_login_and_logout_work_and_foreign_logout_is_refused(web: TestClient) -> None:
    r = _login(web, Origin="http://testserver", Referer="http://testserver/login")
    assert r.status_code == 303 and "churnml_session=" in r.headers["set-cookie"]
    assert web.get("/").status_code == 200
    assert web.post("/logout", headers={"Origin": "https://evil.example"}, follow_redirects=False).status_code == 403
    assert web.get("/").status_code == 200  # the session survived the forged logout
    assert web.post("/logout", headers={"Origin": "http://testserver"}, follow_redirects=False).status_code == 303
    assert web.get("/", follow_redirects=False).status_code == 303


def test_a_trusted_origin_may_post_the_login_form(serving_world: ServingWorld, no_tracking_env: None) -> None:
    base = serving_world.settings.model_dump()
    settings = Settings(**{**base, "serving": {**base["serving"],
                                              "trusted_origins": ["https://churn.example.com"]}})
    with TestClient(create_app(settings)) as c:
        assert _login(c, Origin="https://churn.example.com").status_code == 303
        assert _login(c, Origin="https://churn.example.com.evil.example").status_code == 403
