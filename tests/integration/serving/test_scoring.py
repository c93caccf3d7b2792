"""Online scoring internals: a posted payload reaches the model exactly as the batch feature frame does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from churnml.lifecycle.tracking import configure
from churnml.model.pyfunc import load_churn_model
from serving.scoring import InvalidPayload, OnlineScorer
from tests.support.serving_fixtures import payload
from tests.support.serving_world import ServingWorld


@pytest.fixture(scope="module")
def scorer(serving_world: ServingWorld) -> OnlineScorer:
    configure(serving_world.settings.work_dir)
    return OnlineScorer(load_churn_model("models:/churn-risk/1"), name="churn-risk", version=1)


def _parse(scorer: OnlineScorer, body: dict) -> list:
    return scorer.parse(json.dumps(body).encode())


def test_payload_reaches_the_model_as_the_batch_frame_does(serving_world: ServingWorld,
                                                          scorer: OnlineScorer) -> None:
    frame = pd.read_parquet(serving_world.frame_path)
    values = scorer._values(_parse(scorer, payload(frame)))
    np.testing.assert_array_equal(scorer.matrix(values), scorer.model._matrix(frame))  # NaN positions equal too


def test_payload_edge_values(serving_world: ServingWorld, scorer: OnlineScorer) -> None:
    model = scorer.model
    body = payload(pd.read_parquet(serving_world.frame_path).head(4))
    cat = model.categorical_features_[0]
    body["accounts"][0]["features"][cat] = "a level never seen"
    body["accounts"][1]["features"] = {k: None for k in body["accounts"][1]["features"]}
    body["accounts"][1]["attributes"] = {k: None for k in body["accounts"][1]["attributes"]}
    body["accounts"][2]["features"]["events_30d"] = 7  # an integer
    ours = scorer.matrix(scorer._values(_parse(scorer, body)))
    assert np.isnan(ours[0, model.feature_names_.index(cat)]) and np.isnan(ours[1]).all()
    assert ours[2, model.feature_names_.index("events_30d")] == 7.0


def test_one_account_and_many_give_the_same_numbers(serving_world: ServingWorld, scorer: OnlineScorer) -> None:
    """One account goes through LightGBM's single-row C API, several through Booster.predict."""
    frame = pd.read_parquet(serving_world.frame_path).head(6)
    accounts = _parse(scorer, payload(frame))
    config = serving_world.settings.scoring
    together, _ = scorer.explain(accounts, config)
    for acc, e in zip(accounts, together, strict=True):
        (alone,), _ = scorer.explain([acc], config)
        assert alone.probability == pytest.approx(e.probability, abs=1e-12)
        assert alone.themes == pytest.approx(e.themes, abs=1e-9)
        assert [r.sentence for r in alone.drivers] == [r.sentence for r in e.drivers]


def test_string_for_numeric_attribute_is_a_field_error(serving_world: ServingWorld, scorer: OnlineScorer) -> None:
    body = payload(pd.read_parquet(serving_world.frame_path).head(1))
    numeric = [k for k, v in body["accounts"][0]["attributes"].items() if isinstance(v, float)]
    assert numeric, "the simulated world has a numeric account attribute"
    body["accounts"][0]["attributes"][numeric[0]] = "many"
    with pytest.raises(InvalidPayload) as err:
        _parse(scorer, body)
    assert err.value.errors[0]["loc"] == ["body", "accounts", 0, "attributes", numeric[0]]
