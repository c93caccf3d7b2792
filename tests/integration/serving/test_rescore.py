"""Fresh scores from raw signals: one account's features computed now equal the batch's, and so does its score."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnml.scoring.store import ScoreStore
from tests.support.serving_fixtures import READ, frame_at
from tests.support.serving_world import ServingWorld


def _stored(world: ServingWorld, day: object) -> pd.DataFrame:
    return ScoreStore.from_work_dir(world.settings.work_dir).read(day).set_index("account_id")


def test_rescore_equals_the_batch_score_at_the_same_date(client: TestClient, serving_world: ServingWorld) -> None:
    day = serving_world.dates[-1]
    stored = _stored(serving_world, day)
    aid = stored["change_points"].dropna().index[0]  # scored on both dates: has a previous score
    r = client.post(f"/v1/accounts/{aid}/rescore", headers=READ, params={"as_of": str(day)})
    assert r.status_code == 200, r.text
    got, want = r.json(), stored.loc[aid]
    assert got["churn_probability"] == pytest.approx(want["churn_probability"], abs=1e-12)
    assert got["risk_drivers"] == json.loads(want["risk_drivers"])
    assert got["protective_factors"] == json.loads(want["protective_factors"])
    assert got["change_points"] == pytest.approx(want["change_points"], abs=1e-9)  # since the previous scoring
    assert got["previous_as_of"] == str(serving_world.dates[0]) and got["change_text"] == want["change_text"]
    assert r.headers["X-Model-Version"] == "churn-risk/1"


def test_one_account_features_equal_the_batch_frame(client: TestClient, serving_world: ServingWorld) -> None:
    fresh = client.app.state.service.fresh
    day = serving_world.dates[0]
    batch = frame_at(serving_world, day).set_index("account_id")
    for aid in batch.index[:3]:
        one = fresh.features(aid, day).set_index("account_id")
        cols = [c for c in batch.columns if c != "as_of"]
        pd.testing.assert_frame_equal(one[cols].astype(object), batch.loc[[aid], cols].astype(object),
                                      check_dtype=False, check_index_type=False, check_names=False)


def test_rescore_unknown_account_is_404(client: TestClient, serving_world: ServingWorld) -> None:
    r = client.post("/v1/accounts/NO-SUCH/rescore", headers=READ, params={"as_of": str(serving_world.dates[-1])})
    assert r.status_code == 404 and "NO-SUCH" in r.json()["detail"]
