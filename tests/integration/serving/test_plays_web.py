"""Plays on the web page: the Recommended play block, "Play done" recording through the same log as the API, and
the form's refusals (cross-site posts, read-only sessions, unknown plays) leaving the log unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from churnml.plays.playbook import play_for
from tests.support.plays_world import FORM, WRITE_KEY, PlaysWorld, build_plays_world, plays_client
from tests.support.serving_world import READ_KEY, ServingWorld

SAME_SITE = {**FORM, "Origin": "http://testserver"}


@pytest.fixture()
def pw(serving_world: ServingWorld, tmp_path: Path) -> PlaysWorld:
    return build_plays_world(serving_world, tmp_path)  # a fresh alert store and log per test: recording changes both


@pytest.fixture()
def web(pw: PlaysWorld, serving_world: ServingWorld) -> Iterator[TestClient]:
    with plays_client(pw, serving_world) as c:
        yield c


def _login(c: TestClient, key: str) -> None:
    r = c.post("/login", content=f"key={key}&next=/", headers=SAME_SITE, follow_redirects=False)
    assert r.status_code == 303, r.text


def _done(c: TestClient, aid: str, body: str, headers: dict[str, str] = SAME_SITE) -> object:
    return c.post(f"/accounts/{aid}/plays", content=body, headers=headers, follow_redirects=False)


def test_page_shows_the_routed_play_and_not_the_held_out_one(web: TestClient, pw: PlaysWorld) -> None:
    _login(web, WRITE_KEY)
    page = web.get(f"/accounts/{pw.routed}").text
    want = play_for("detractor", pw.settings.plays)
    assert "Recommended play" in page and f'data-play="{want.play}"' in page and want.text in page
    assert 'id="play-done"' in page and "About this account" in page
    held = web.get(f"/accounts/{pw.held}").text
    assert "data-play=" not in held and "No open alert for this account" in held  # the holdout stays clean


def test_play_done_records_the_play_resolves_the_alert_and_confirms(web: TestClient, pw: PlaysWorld) -> None:
    _login(web, WRITE_KEY)
    want = play_for("detractor", pw.settings.plays).play
    r = _done(web, pw.routed, f"play={want}&outcome=booked")
    assert r.status_code == 303 and r.headers["location"] == f"/accounts/{pw.routed}?done={want}"
    rows = pw.log_rows()
    assert rows[["account_id", "play"]].values.tolist() == [[pw.routed, want]]
    page = web.get(r.headers["location"]).text
    assert 'id="play-confirm"' in page and want in page
    assert "data-play=" not in page  # its alert is resolved: no play recommended any more


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.example"])
def test_a_cross_site_post_records_nothing(web: TestClient, pw: PlaysWorld, origin: str) -> None:
    _login(web, WRITE_KEY)
    r = _done(web, pw.routed, "play=executive_call", headers={**FORM, "Origin": origin})
    assert r.status_code == 403
    assert pw.log_rows().empty


def test_a_read_only_session_sees_a_note_and_cannot_post(web: TestClient, pw: PlaysWorld) -> None:
    _login(web, READ_KEY)
    page = web.get(f"/accounts/{pw.routed}").text
    assert 'id="play-readonly"' in page and 'id="play-done"' not in page
    r = _done(web, pw.routed, "play=executive_call")
    assert r.status_code == 403 and "read-only" in r.text
    assert pw.log_rows().empty


def test_an_unknown_play_is_refused_on_the_page_naming_the_valid_ones(web: TestClient, pw: PlaysWorld) -> None:
    _login(web, WRITE_KEY)
    r = _done(web, pw.routed, "play=send_flowers")
    assert r.status_code == 422 and 'id="play-error"' in r.text
    assert "send_flowers" in r.text and "executive_call" in r.text
    assert pw.log_rows().empty
