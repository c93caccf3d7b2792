"""Plays in the API: open alerts and their play, context and theme points on the account; recording a play done
(POST /v1/accounts/{id}/interventions) with its refusals (401/403/404/409/422/503) and concurrent writers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnml.features import FEATURES
from churnml.plays.playbook import play_for, plays
from churnml.plays.state import AlertStore
from churnml.scoring.store import ScoreStore
from serving.views import account_score
from tests.support.plays_world import WRITE, WRITE_CSM, PlaysWorld, build_plays_world, plays_client
from tests.support.serving_fixtures import READ, SCORE, frame_at, payload
from tests.support.serving_world import ServingWorld

CONTEXT = {f.name for f in FEATURES if getattr(f, "context", False)}
#: Registry features that are behaviour (never context); static attributes outside the registry may be context.
BEHAVIOUR = {f.name for f in FEATURES} - CONTEXT


@pytest.fixture(scope="module")
def pw(serving_world: ServingWorld, tmp_path_factory: pytest.TempPathFactory) -> PlaysWorld:
    return build_plays_world(serving_world, tmp_path_factory.mktemp("plays_api"))


@pytest.fixture(scope="module")
def api(pw: PlaysWorld, serving_world: ServingWorld) -> Iterator[TestClient]:
    with plays_client(pw, serving_world) as c:
        yield c


def _post(c: TestClient, aid: str, body: dict, headers: dict[str, str] = WRITE) -> object:
    return c.post(f"/v1/accounts/{aid}/interventions", json=body, headers=headers)


def test_detail_lists_open_alerts_with_their_play(api: TestClient, pw: PlaysWorld) -> None:
    d = api.get(f"/v1/accounts/{pw.routed}", headers=READ).json()
    want = play_for("detractor", pw.settings.plays)
    assert [(a["cause"], a["play"], a["play_text"], a["held_out"], a["raised"]) for a in d["alerts"]] == [
        ("detractor", want.play, want.text, False, str(pw.raised))]
    assert d["alerts"][0]["last_seen"] == str(max(pw.scores["as_of"]).date())
    held = api.get(f"/v1/accounts/{pw.held}", headers=READ).json()["alerts"]
    assert [(a["cause"], a["held_out"]) for a in held] == [("renewal_at_risk", True)]
    other = next(a for a in pw.scores.index if a not in (pw.routed, pw.held))
    assert api.get(f"/v1/accounts/{other}", headers=READ).json()["alerts"] == []


def test_detail_has_context_apart_and_theme_points_that_add_up(client: TestClient,
                                                               serving_world: ServingWorld) -> None:
    stored = ScoreStore.from_work_dir(serving_world.settings.work_dir).read(serving_world.dates[-1])
    with_context = stored[stored["context_facts"].map(lambda v: len(json.loads(v)) > 0)]
    assert len(with_context) > 0  # the world's model uses context features (tenure, contract, renewal...)
    for row in with_context.head(5).to_dict("records"):
        d = client.get(f"/v1/accounts/{row['account_id']}", headers=READ).json()
        facts = json.loads(row["context_facts"])
        assert d["context"] == facts and not {c["feature"] for c in d["context"]} & BEHAVIOUR
        listed = d["risk_drivers"] + d["protective_factors"]
        assert not {r["feature"] for r in listed} & CONTEXT  # context is never a cause
        stored_points = json.loads(row["theme_points"])
        assert {t["theme"]: t["points"] for t in d["theme_points"]} == pytest.approx(stored_points)
        for t in d["theme_points"]:
            mine = sum(r["points"] for r in listed if r["theme"] == t["theme"])
            assert t["reasons"] == pytest.approx(mine, abs=1e-9)
            assert t["points"] == pytest.approx(t["reasons"] + t["other_factors"], abs=1e-9)
        total = sum(t["points"] for t in d["theme_points"])
        assert total == pytest.approx(sum(stored_points.values()))


def test_score_answers_context_and_theme_points_as_stored(client: TestClient, serving_world: ServingWorld) -> None:
    day = serving_world.dates[0]
    frame = frame_at(serving_world, day).head(8)
    stored = ScoreStore.from_work_dir(serving_world.settings.work_dir).read(day).set_index("account_id")
    got = client.post("/v1/score", json=payload(frame), headers=SCORE).json()["accounts"]
    assert any(a["context"] for a in got)
    for a in got:
        row = stored.loc[a["account_id"]]
        assert a["context"] == json.loads(row["context_facts"])
        want = account_score({**row.to_dict(), "account_id": a["account_id"]}).theme_points
        assert [t["theme"] for t in a["theme_points"]] == [t.theme for t in want]
        for t, w in zip(a["theme_points"], want, strict=True):
            assert (t["points"], t["reasons"], t["other_factors"]) == pytest.approx(
                (w.points, w.reasons, w.other_factors), abs=1e-9)


def test_openapi_documents_the_new_fields_and_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"alerts", "history", "context", "theme_points"} <= set(schemas["AccountDetail"]["properties"])
    assert {"context", "theme_points"} <= set(schemas["AccountScore"]["properties"])
    assert set(schemas["ThemePoints"]["properties"]) == {"theme", "points", "reasons", "other_factors"}
    assert {"cause", "raised", "play", "play_text", "held_out"} <= set(schemas["Alert"]["properties"])
    post = spec["paths"]["/v1/accounts/{account_id}/interventions"]["post"]
    assert {"201", "401", "403", "404", "409", "422", "503"} <= set(post["responses"])
    assert set(schemas["InterventionIn"]["properties"]) == {"play", "ts", "csm_id", "outcome"}


def test_recording_a_play_stores_the_row_and_resolves_the_alert(api: TestClient, pw: PlaysWorld) -> None:
    play = play_for("detractor", pw.settings.plays).play
    when = "2025-01-06T09:30:00+01:00"
    r = _post(api, pw.routed, {"play": play, "ts": when, "outcome": "sponsor call booked"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body == {"account_id": pw.routed, "ts": "2025-01-06T08:30:00Z", "play": play, "csm_id": WRITE_CSM,
                    "outcome": "sponsor call booked", "alerts_resolved": 1}
    log = pw.log_rows()
    mine = log[(log["account_id"] == pw.routed) & (log["play"] == play)]
    assert mine[["ts", "csm_id", "outcome"]].values.tolist() == [
        [pd.Timestamp("2025-01-06 08:30:00"), WRITE_CSM, "sponsor call booked"]]
    assert api.get(f"/v1/accounts/{pw.routed}", headers=READ).json()["alerts"] == []
    status = AlertStore.from_work_dir(pw.settings.work_dir).read(account_id=pw.routed)["status"].tolist()
    assert status == ["resolved"]

    again = _post(api, pw.routed, {"play": play, "ts": when})
    assert again.status_code == 409 and play in again.json()["detail"]
    assert len(pw.log_rows()) == len(log)  # nothing added
    later = _post(api, pw.routed, {"play": play, "ts": "2025-01-07T10:00:00Z", "csm_id": "CSM009"})
    assert later.status_code == 201 and later.json()["csm_id"] == "CSM009" and later.json()["alerts_resolved"] == 0
    assert len(pw.log_rows()) == len(log) + 1


def test_default_time_is_now_and_a_score_key_may_write(api: TestClient, pw: PlaysWorld) -> None:
    before = dt.datetime.now(dt.UTC)
    r = _post(api, pw.held, {"play": "renewal_review"}, headers=SCORE)
    assert r.status_code == 201, r.text
    ts = dt.datetime.fromisoformat(r.json()["ts"])
    assert before - dt.timedelta(seconds=1) <= ts <= dt.datetime.now(dt.UTC) and r.json()["outcome"] == "done"
    assert r.json()["csm_id"] is None  # the score key belongs to no CSM
    log = pw.log_rows()
    assert ((log["account_id"] == pw.held) & (log["play"] == "renewal_review")).sum() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"play": "send_flowers"}, "play"),
    ({"play": ""}, "play"),
    ({}, "play"),
    ({"play": "executive_call", "when": "today"}, "when"),
    ({"play": "executive_call", "ts": "2999-01-01T00:00:00Z"}, "ts"),
    ({"play": "executive_call", "ts": "yesterday"}, "ts"),
])
def test_invalid_bodies_are_422_naming_the_field(api: TestClient, pw: PlaysWorld, body: dict, field: str) -> None:
    n = len(pw.log_rows())
    r = _post(api, pw.routed, body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"][-1] == field
    if body.get("play") == "send_flowers":
        assert all(p in r.json()["detail"] for p in plays(pw.settings.plays))  # names the valid plays
    assert len(pw.log_rows()) == n


def test_refusals_record_nothing(api: TestClient, pw: PlaysWorld) -> None:
    n = len(pw.log_rows())
    r = _post(api, pw.routed, {"play": "executive_call"}, headers=READ)
    assert r.status_code == 403 and "read-only" in r.json()["detail"] and "write" in r.json()["detail"]
    assert _post(api, pw.routed, {"play": "executive_call"}, headers={}).status_code == 401
    r = _post(api, "NO-SUCH", {"play": "executive_call"})
    assert r.status_code == 404 and "NO-SUCH" in r.json()["detail"]
    assert len(pw.log_rows()) == n


def test_no_writable_log_is_503(pw: PlaysWorld, serving_world: ServingWorld, tmp_path: Path) -> None:
    base = pw.settings.model_dump()
    duck = tmp_path / "data.duckdb"
    duck.write_bytes(b"")
    for data_dir, says in ((tmp_path / "nowhere", "does not exist"), (duck, "is a file")):
        settings = type(pw.settings)(**{**base, "data": {**base["data"], "dir": data_dir}})
        other = PlaysWorld(settings, pw.routed, pw.held, pw.raised, pw.scores)
        with plays_client(other, serving_world) as c:
            r = _post(c, pw.routed, {"play": "executive_call"})
            assert r.status_code == 503 and says in r.json()["detail"] and r.headers["retry-after"]
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "interventions.csv").write_text("account_id,ts,play\n")
    settings = type(pw.settings)(**{**base, "data": {**base["data"], "dir": tmp_path / "csv"}})
    with plays_client(PlaysWorld(settings, pw.routed, pw.held, pw.raised, pw.scores), serving_world) as c:
        r = _post(c, pw.routed, {"play": "executive_call"})
        assert r.status_code == 503 and "interventions.csv" in r.json()["detail"]


def test_eight_concurrent_writers_lose_no_row(api: TestClient, pw: PlaysWorld) -> None:
    before = pw.log_rows()
    accounts = list(pw.scores.index[10:18])
    valid = plays(pw.settings.plays)

    def one(i: int) -> int:
        body = {"play": valid[i % len(valid)], "ts": f"2025-02-0{1 + i % 7}T12:00:0{i}Z", "outcome": f"t{i}"}
        return _post(api, accounts[i], body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(8)))
    assert codes == [201] * 8
    after = pw.log_rows()
    assert len(after) == len(before) + 8
    assert sorted(after[after["outcome"].str.match(r"t\d$", na=False)]["account_id"]) == sorted(accounts)
    kept = before.merge(after, on=["account_id", "ts", "play"], how="left", indicator=True)
    assert (kept["_merge"] == "both").all()  # every earlier row is still there
