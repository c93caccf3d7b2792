"""The CSM web page: key-entry session flow, server-rendered list and account page, and a real browser run."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from churnml.scoring.store import ScoreStore
from tests.support.browser import browser_page, screenshot
from tests.support.serving_server import running_server
from tests.support.serving_world import READ_KEY, ServingWorld


@pytest.fixture()
def web(client: TestClient) -> Iterator[TestClient]:
    client.cookies.clear()
    yield client
    client.cookies.clear()


def _login(c: TestClient, key: str = READ_KEY, next_url: str = "/") -> object:
    return c.post("/login", content=f"key={key}&next={next_url}",
                  headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)


def test_pages_need_a_session(web: TestClient) -> None:
    r = web.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
    r = web.get("/accounts/A000001?x=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Faccounts%2FA000001")
    assert "<form" in web.get("/login").text


def test_wrong_key_is_refused_and_right_key_sets_httponly_cookie(web: TestClient) -> None:
    r = _login(web, "wrong-key")
    assert r.status_code == 401 and "not valid" in r.text and "churnml_session" not in r.headers.get("set-cookie", "")
    r = _login(web, next_url="//evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"]
    assert "churnml_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert READ_KEY not in cookie  # the key itself is never stored in the browser
    page = web.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    web.post("/logout", follow_redirects=False)
    assert web.get("/", follow_redirects=False).status_code == 303


def test_list_sorts_and_filters(web: TestClient, serving_world: ServingWorld) -> None:
    _login(web)
    stored = ScoreStore.from_work_dir(serving_world.settings.work_dir).read(serving_world.dates[-1])
    html = web.get("/", params={"sort": "mrr_at_risk"}).text
    ids = re.findall(r'<a href="/accounts/([^"]+)">', html)
    assert ids[:5] == list(stored.sort_values("mrr_at_risk", ascending=False)["account_id"][:5])
    html = web.get("/", params={"band": "high"}).text
    rows = re.findall(r'<tr class="band-(\w+)">', html)
    assert rows and set(rows) == {"high"} and len(rows) == min(50, int((stored["risk_band"] == "high").sum()))
    seg = stored["segment"].dropna().iloc[0]
    html = web.get("/", params={"segment": seg}).text
    assert f"{int((stored['segment'] == seg).sum())} accounts match" in html


def test_account_page_shows_reasons_chart_history_and_signals(web: TestClient, serving_world: ServingWorld) -> None:
    _login(web)
    stored = ScoreStore.from_work_dir(serving_world.settings.work_dir).read(serving_world.dates[-1])
    row = stored.sort_values("churn_probability", ascending=False).iloc[0]
    html = web.get(f"/accounts/{row['account_id']}").text
    import json

    for reason in json.loads(row["risk_drivers"]) + json.loads(row["protective_factors"]):
        assert reason["sentence"].replace("&", "&amp;") in html.replace("&#39;", "'")
    # each reason is one bar of the wide chart and one of the phone's (shown by the stylesheet's width rule)
    assert html.count('class="bar driver"') == 2 * len(json.loads(row["risk_drivers"]))
    assert html.count('class="bar protective"') == 2 * len(json.loads(row["protective_factors"]))
    assert 'class="chart history"' in html and html.count("<circle") == 2  # two scorings
    assert 'id="signals"' in html and 'class="spark"' in html
    # theme trends in the probability points the reasons use, latest value as stored
    assert "in probability points" in html
    for theme, pts in json.loads(row["theme_points"]).items():
        if theme in json.loads(row["theme_contributions"]):
            assert f"{pts:+.1f} pts</td>" in html, theme
    # the key signals stored with each scoring, by their registry description, latest value shown
    assert 'id="key-signals"' in html and "Monthly recurring revenue" in html
    mrr = json.loads(row["signals"])["mrr"]
    assert f"${mrr:,.0f}" in html
    assert web.get("/accounts/NOPE").status_code == 404


def test_browser_list_account_reasons_and_chart(serving_world: ServingWorld, no_tracking_env: None) -> None:
    """Headless Debian Chromium: sign in with a key, load the list, sort, open an account, see reasons and chart."""
    from serving.app import create_app

    app = create_app(serving_world.settings)
    with running_server(app) as url, browser_page() as page:
        page.goto(f"{url}/")
        assert "/login" in page.url
        page.fill("input[name=key]", READ_KEY)
        page.click("button[type=submit]")
        page.wait_for_selector("#accounts tbody tr")
        assert page.locator("#accounts tbody tr").count() >= 10
        page.click("#accounts thead >> text=MRR at risk")
        page.wait_for_url(re.compile(r"sort=mrr_at_risk"))
        page.select_option("select[name=band]", "high")  # app.js submits on change
        page.wait_for_url(re.compile(r"band=high"))
        assert set(page.locator("#accounts tbody tr").evaluate_all("rs => rs.map(r => r.className)")) == {"band-high"}
        screenshot(page, "serving_list")
        first = page.locator("#accounts tbody tr td a").first
        account = first.inner_text()
        first.click()
        page.wait_for_selector("#reasons li")
        assert account in page.locator("h1").inner_text()
        assert page.locator("#reasons li").count() >= 1
        assert page.locator("#reasons li.driver").first.inner_text().startswith("▲")
        # one bar per listed reason; a theme's "Other factors" line is a remainder, not a bar
        listed = page.locator("#reasons li.driver, #reasons li.protective").count()
        assert page.locator("#drivers .wide-only svg.drivers rect").count() == listed
        assert page.locator("#history svg circle").count() >= 1
        assert page.locator("#signals svg.spark").count() >= 3
        assert page.locator("#key-signals svg.spark").count() >= 5
        shot = screenshot(page, "serving_account")
        assert shot.stat().st_size > 10_000
