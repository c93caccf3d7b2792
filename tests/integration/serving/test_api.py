"""The /v1 API over a small trained world: store-backed reads, online scoring equal to batch scoring, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from churnml.scoring.store import ScoreStore
from tests.support.serving_fixtures import READ, SCORE, frame_at, payload
from tests.support.serving_world import ServingWorld


def _stored(world: ServingWorld):
    store = ScoreStore.from_work_dir(world.settings.work_dir)
    return store.read(world.dates[-1]).set_index("account_id")


def test_list_filters_sorts_and_pages(client: TestClient, serving_world: ServingWorld) -> None:
    stored = _stored(serving_world)
    r = client.get("/v1/accounts", headers=READ, params={"limit": 500})
    body = r.json()
    assert r.status_code == 200 and body["as_of"] == str(serving_world.dates[-1]) and body["total"] == len(stored)
    probs = [i["churn_probability"] for i in body["items"]]
    assert probs == sorted(probs, reverse=True)  # default: riskiest first
    top = body["items"][0]
    assert top["churn_probability"] == pytest.approx(stored.loc[top["account_id"], "churn_probability"])

    seg = stored["segment"].dropna().iloc[0]
    got = client.get("/v1/accounts", headers=READ, params={"segment": seg, "band": "low", "limit": 500}).json()
    assert got["total"] == int(((stored["segment"] == seg) & (stored["risk_band"] == "low")).sum())
    assert all(i["segment"] == seg and i["risk_band"] == "low" for i in got["items"])

    csm = stored["csm_id"].dropna().iloc[0]
    got = client.get("/v1/accounts", headers=READ, params={"csm": csm, "limit": 500}).json()
    assert got["total"] == int((stored["csm_id"] == csm).sum()) and {i["csm_id"] for i in got["items"]} == {csm}

    by_mrr = client.get("/v1/accounts", headers=READ, params={"sort": "mrr_at_risk", "limit": 5}).json()["items"]
    assert [i["account_id"] for i in by_mrr] == list(stored["mrr_at_risk"].sort_values(ascending=False).index[:5])
    change = client.get("/v1/accounts", headers=READ, params={"sort": "change", "order": "asc", "limit": 3}).json()
    assert change["items"][0]["change_points"] == pytest.approx(stored["change_points"].min())

    page1 = client.get("/v1/accounts", headers=READ, params={"limit": 10}).json()["items"]
    page2 = client.get("/v1/accounts", headers=READ, params={"limit": 10, "offset": 10}).json()["items"]
    assert not {i["account_id"] for i in page1} & {i["account_id"] for i in page2}
    assert page2[0]["churn_probability"] <= page1[-1]["churn_probability"]


def test_account_detail_has_history_and_reasons(client: TestClient, serving_world: ServingWorld) -> None:
    stored = _stored(serving_world)
    aid = stored["change_points"].dropna().index[0]  # scored on both dates
    d = client.get(f"/v1/accounts/{aid}", headers=READ).json()
    assert d["account_id"] == aid and d["as_of"] == str(serving_world.dates[-1])
    assert [h["as_of"] for h in d["history"]] == [str(x) for x in serving_world.dates]
    assert d["change_points"] == pytest.approx(
        (d["history"][1]["churn_probability"] - d["history"][0]["churn_probability"]) * 100)
    assert d["change_text"].startswith("risk ")
    assert d["risk_drivers"] == json.loads(stored.loc[aid, "risk_drivers"])
    grouped = [r for g in d["reasons_by_theme"] for r in g["drivers"] + g["protective"]]
    assert len(grouped) == len(d["risk_drivers"]) + len(d["protective_factors"])
    assert all(r["sentence"] for r in grouped) and d["model"] == {"name": "churn-risk", "version": "1"}
    r = client.get("/v1/accounts/NO-SUCH", headers=READ)
    assert r.status_code == 404 and "NO-SUCH" in r.json()["detail"]


def test_online_score_equals_batch_score(client: TestClient, serving_world: ServingWorld) -> None:
    """Same model artifact, same explain code: POSTing the batch features gives the stored scores and reasons.

    The latest scoring's features: the API bands by the latest stored scoring's edges (relative bands move with
    each scoring's base rate), so only there must a posted account's band equal its stored one."""
    latest = serving_world.dates[-1]
    frame = frame_at(serving_world, latest).head(12)
    stored = ScoreStore.from_work_dir(serving_world.settings.work_dir).read(latest)
    stored = stored.set_index("account_id").loc[frame["account_id"]]
    r = client.post("/v1/score", json=payload(frame), headers=SCORE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": "churn-risk", "version": "1"} and r.headers["X-Model-Version"] == "churn-risk/1"
    got = body["accounts"]
    assert [a["account_id"] for a in got] == list(frame["account_id"])  # posted order
    np.testing.assert_allclose([a["churn_probability"] for a in got], stored["churn_probability"], rtol=1e-12)
    np.testing.assert_allclose([a["raw_score"] for a in got], stored["raw_score"], rtol=1e-12)
    for a, (_, row) in zip(got, stored.iterrows(), strict=True):
        assert a["risk_band"] == row["risk_band"]
        assert a["risk_drivers"] == json.loads(row["risk_drivers"])
        assert a["protective_factors"] == json.loads(row["protective_factors"])
        assert a["segment"] == row["segment"]
    # the detail route and the scoring route answer in the same shape
    detail = client.get(f"/v1/accounts/{got[0]['account_id']}", headers=READ).json()
    assert set(detail) - {"history", "alerts"} == set(got[0])


def test_mixed_as_of_dates_in_one_request(client: TestClient, serving_world: ServingWorld) -> None:
    a = frame_at(serving_world, serving_world.dates[0]).head(2)
    b = frame_at(serving_world, serving_world.dates[1]).head(2)
    body = payload(a)
    body["accounts"] = [payload(b)["accounts"][0], body["accounts"][0], payload(b)["accounts"][1],
                        body["accounts"][1]]
    got = client.post("/v1/score", json=body, headers=SCORE).json()["accounts"]
    assert [g["as_of"] for g in got] == [str(d) for d in [serving_world.dates[1], serving_world.dates[0]] * 2]


@pytest.fixture()
def one(serving_world: ServingWorld) -> dict:
    return payload(frame_at(serving_world, serving_world.dates[-1]).head(1))


def test_missing_feature_is_422_naming_it(client: TestClient, one: dict) -> None:
    del one["accounts"][0]["features"]["events_30d"]
    r = client.post("/v1/score", json=one, headers=SCORE)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "accounts", 0, "features", "events_30d"]
    assert "events_30d" in r.json()["detail"]


def test_null_feature_is_missing_value_not_error(client: TestClient, one: dict) -> None:
    one["accounts"][0]["features"]["nps_latest"] = None
    assert client.post("/v1/score", json=one, headers=SCORE).status_code == 200


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("events_30d", "lots", "float_type"),
    ("plan", 3, "string_type"),
    ("no_such_feature", 1.0, "extra_forbidden"),
])
def test_wrong_types_are_422(client: TestClient, one: dict, field: str, value: object, kind: str) -> None:
    one["accounts"][0]["features"][field] = value
    r = client.post("/v1/score", json=one, headers=SCORE)
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["loc"] == ["body", "accounts", 0, "features", field] and err["type"] == kind


def test_nan_and_infinity_are_422(client: TestClient, one: dict) -> None:
    one["accounts"][0]["features"]["events_30d"] = 1.0
    for bad in ("NaN", "Infinity", "-Infinity"):
        raw = json.dumps(one).replace('"events_30d": 1.0', f'"events_30d": {bad}', 1)
        assert bad in raw
        r = client.post("/v1/score", content=raw, headers={**SCORE, "content-type": "application/json"})
        assert r.status_code == 422
        err = r.json()["errors"][0]
        assert err["loc"] == ["body", "accounts", 0, "features", "events_30d"] and err["type"] == "finite_number"


def test_payload_limits(client: TestClient, serving_world: ServingWorld, one: dict) -> None:
    limit = serving_world.settings.serving.max_body_bytes
    huge = {"accounts": one["accounts"] * 2 * (limit // len(json.dumps(one)) + 5)}
    r = client.post("/v1/score", json=huge, headers=SCORE)
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        text = json.dumps(huge).encode()
        for i in range(0, len(text), 65536):
            yield text[i:i + 65536]
    r = client.post("/v1/score", content=chunks(), headers={**SCORE, "content-type": "application/json"})
    assert r.status_code == 413
    many = {"accounts": one["accounts"] * (serving_world.settings.serving.max_accounts + 1)}
    assert len(json.dumps(many)) < limit  # under the byte limit, over the account limit
    r = client.post("/v1/score", json=many, headers=SCORE)
    assert r.status_code == 413 and "too many accounts" in r.json()["detail"]
    assert client.post("/v1/score", json={"accounts": []}, headers=SCORE).status_code == 422
    r = client.post("/v1/score", content="{not json", headers={**SCORE, "content-type": "application/json"})
    assert r.status_code == 422 and "Traceback" not in r.text


def test_unexpected_error_is_500_without_internals(client: TestClient, one: dict,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.scoring import OnlineScorer

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(OnlineScorer, "answer", boom)
    r = client.post("/v1/score", json=one, headers=SCORE)
    assert r.status_code == 500
    assert set(r.json()) == {"detail"} and "internal error" in r.json()["detail"]
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text


def test_unknown_route_and_bad_query(client: TestClient) -> None:
    r = client.get("/v1/nothing", headers=READ)
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/v1/accounts", headers=READ, params={"sort": "bogus"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "sort"]
    r = client.get("/v1/accounts", headers=READ, params={"limit": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "limit"]


def test_model_info(client: TestClient) -> None:
    m = client.get("/v1/model", headers=READ).json()
    assert m["name"] == "churn-risk" and m["alias"] == "champion" and m["version"] == "1" and m["ready"]
    assert m["metrics"]["roc_auc"] == pytest.approx(0.70) and m["last_error"] is None


def test_metrics_count_requests_and_latency(client: TestClient) -> None:
    client.get("/v1/model", headers=READ)
    client.get("/v1/model")
    text = client.get("/metrics").text
    assert 'churnml_http_requests_total{method="GET",route="/v1/model",status="200"}' in text
    assert 'churnml_http_requests_total{method="GET",route="/v1/model",status="401"}' in text
    assert 'churnml_http_request_duration_seconds_bucket{le="0.025",method="GET",route="/v1/model"}' in text
    assert "churnml_model_version 1.0" in text


def test_openapi_is_complete(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/accounts", "/v1/accounts/{account_id}", "/v1/score", "/v1/model", "/healthz", "/readyz",
            "/metrics"} <= set(paths)
    assert "/" not in paths and "/login" not in paths  # the web page is not API
    score = paths["/v1/score"]["post"]
    assert {"200", "401", "403", "413", "422", "503"} <= set(score["responses"])
    assert score["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("ScoreResponse")
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    features = spec["components"]["schemas"]["FeatureValues"]
    assert features["additionalProperties"] is False and "events_30d" in features["properties"]
    assert "events_30d" in features["required"] and features["properties"]["events_7d"]["anyOf"][0]["minimum"] == 0
    attributes = spec["components"]["schemas"]["ModelAttributes"]
    assert {"employees", "acquisition_channel"} <= set(attributes["required"])  # the served model's attributes
    body = score["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/ScoreRequest")


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("events_7d", -5, "greater_than_equal"),
    ("events_7d", 1e308, "less_than_equal"),
    ("nps_latest", 11, "less_than_equal"),  # the contract's NPS scale is 0-10
    ("active_days_7d", 8, "less_than_equal"),  # 8 active days in a 7-day window
    ("reopen_rate_90d", 1.5, "less_than_equal"),
])
def test_values_out_of_range_are_422(client: TestClient, one: dict, field: str, value: float, kind: str) -> None:
    """Issue 20 item 5: the ranges batch data cannot produce are refused, naming the field."""
    one["accounts"][0]["features"][field] = value
    r = client.post("/v1/score", json=one, headers=SCORE)
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["loc"] == ["body", "accounts", 0, "features", field] and err["type"] == kind


def test_model_attribute_missing_is_422(client: TestClient, one: dict) -> None:
    del one["accounts"][0]["attributes"]["employees"]
    r = client.post("/v1/score", json=one, headers=SCORE)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "accounts", 0, "attributes", "employees"]


def test_scored_at_carries_its_offset(client: TestClient, one: dict, serving_world: ServingWorld) -> None:
    import datetime as dt

    posted = client.post("/v1/score", json=one, headers=SCORE).json()["accounts"][0]["scored_at"]
    stored = client.get(f"/v1/accounts/{one['accounts'][0]['account_id']}", headers=READ).json()["scored_at"]
    for text in (posted, stored):
        assert dt.datetime.fromisoformat(text).utcoffset() == dt.timedelta(0), text
