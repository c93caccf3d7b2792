"""Online scoring internals: the payload's matrix equals the model's own `_matrix`, row for row and on edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.pyfunc import load_churn_model
from churnml.tracking import configure
from serving.schemas import ScoreRequest
from serving.scoring import MissingFeatures, PreparedOnce, check_required, payload_frame, payload_matrix
from tests.serving.conftest import payload
from tests.serving.world import ServingWorld


@pytest.fixture(scope="module")
def model(serving_world: ServingWorld) -> object:
    configure(serving_world.settings.work_dir)
    return load_churn_model("models:/churn-risk/1")


def test_payload_matrix_equals_model_matrix_on_every_row(serving_world: ServingWorld, model: object) -> None:
    frame = pd.read_parquet(serving_world.frame_path)
    accounts = ScoreRequest.model_validate(payload(frame)).accounts
    built = payload_frame(accounts, model)
    ours = payload_matrix(built, model)
    np.testing.assert_array_equal(ours, model._matrix(built))  # NaN positions equal too
    np.testing.assert_array_equal(ours, model._matrix(frame))  # and equal to the batch feature frame's


def test_payload_matrix_edge_values(serving_world: ServingWorld, model: object) -> None:
    frame = pd.read_parquet(serving_world.frame_path).head(4)
    body = payload(frame)
    cat = model.categorical_features_[0]
    body["accounts"][0]["features"][cat] = "a level never seen"
    body["accounts"][1]["features"] = {k: None for k in body["accounts"][1]["features"]}
    body["accounts"][1]["attributes"] = {k: None for k in body["accounts"][1]["attributes"]}
    body["accounts"][2]["features"]["events_30d"] = 7  # an integer
    accounts = ScoreRequest.model_validate(body).accounts
    built = payload_frame(accounts, model)
    ours = payload_matrix(built, model)
    np.testing.assert_array_equal(ours, model._matrix(built))
    assert np.isnan(ours[0, model.feature_names_.index(cat)]) and np.isnan(ours[1]).all()
    wrapped = PreparedOnce(model, built)
    np.testing.assert_array_equal(wrapped.predict_raw(built), model.predict_raw(built))
    np.testing.assert_array_equal(wrapped.contributions(built).to_numpy(), model.contributions(built).to_numpy())
    other = pd.read_parquet(serving_world.frame_path).tail(3)  # any other frame: the model's own path
    np.testing.assert_array_equal(wrapped.predict_proba(other), model.predict_proba(other))


def test_string_for_numeric_attribute_is_a_field_error(serving_world: ServingWorld, model: object) -> None:
    body = payload(pd.read_parquet(serving_world.frame_path).head(1))
    numeric = [k for k, v in body["accounts"][0]["attributes"].items() if isinstance(v, float)]
    assert numeric, "the simulated world has a numeric account attribute"
    body["accounts"][0]["attributes"][numeric[0]] = "many"
    with pytest.raises(MissingFeatures) as err:
        check_required(ScoreRequest.model_validate(body).accounts, model)
    assert err.value.errors[0]["loc"] == ["body", "accounts", 0, "attributes", numeric[0]]
