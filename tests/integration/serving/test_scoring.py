"""Online scoring internals: a posted payload reaches the model exactly as the batch feature frame does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.lifecycle.tracking import configure
from churnml.model.pyfunc import load_churn_model
from serving.schemas import ScoreRequest
from serving.scoring import MissingFeatures, check_required, payload_frame
from tests.support.serving_fixtures import payload
from tests.support.serving_world import ServingWorld


@pytest.fixture(scope="module")
def model(serving_world: ServingWorld) -> object:
    configure(serving_world.settings.work_dir)
    return load_churn_model("models:/churn-risk/1")


def test_payload_reaches_the_model_as_the_batch_frame_does(serving_world: ServingWorld, model: object) -> None:
    frame = pd.read_parquet(serving_world.frame_path)
    accounts = ScoreRequest.model_validate(payload(frame)).accounts
    built = payload_frame(accounts, model)
    np.testing.assert_array_equal(model._matrix(built), model._matrix(frame))  # NaN positions equal too


def test_payload_edge_values(serving_world: ServingWorld, model: object) -> None:
    frame = pd.read_parquet(serving_world.frame_path).head(4)
    body = payload(frame)
    cat = model.categorical_features_[0]
    body["accounts"][0]["features"][cat] = "a level never seen"
    body["accounts"][1]["features"] = {k: None for k in body["accounts"][1]["features"]}
    body["accounts"][1]["attributes"] = {k: None for k in body["accounts"][1]["attributes"]}
    body["accounts"][2]["features"]["events_30d"] = 7  # an integer
    accounts = ScoreRequest.model_validate(body).accounts
    built = payload_frame(accounts, model)
    ours = model._matrix(built)
    assert np.isnan(ours[0, model.feature_names_.index(cat)]) and np.isnan(ours[1]).all()
    events = model.feature_names_.index("events_30d")
    assert ours[2, events] == 7.0


def test_string_for_numeric_attribute_is_a_field_error(serving_world: ServingWorld, model: object) -> None:
    body = payload(pd.read_parquet(serving_world.frame_path).head(1))
    numeric = [k for k, v in body["accounts"][0]["attributes"].items() if isinstance(v, float)]
    assert numeric, "the simulated world has a numeric account attribute"
    body["accounts"][0]["attributes"][numeric[0]] = "many"
    with pytest.raises(MissingFeatures) as err:
        check_required(ScoreRequest.model_validate(body).accounts, model)
    assert err.value.errors[0]["loc"] == ["body", "accounts", 0, "attributes", numeric[0]]
