"""The forecast reads the columns its outcome models were trained on, and says which ones a frame lacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.forecast.run import missing_columns, model_columns, outcome_probabilities


class _Model:
    """The scoring interface of a trained model, reading only its own columns."""

    def __init__(self, names: list[str], p: float) -> None:
        self.feature_names_, self.p = names, p

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        frame[self.feature_names_]  # KeyError where a column is missing, as a real model would fail
        return np.column_stack([np.full(len(frame), 1 - self.p), np.full(len(frame), self.p)])


MODELS = {"churned": _Model(["mrr", "events_login_30d"], 0.2),
          "contracted": _Model(["mrr", "events_export_30d"], 0.1),
          "expanded": _Model(["mrr"], 0.3)}


def test_model_columns_are_the_union_in_first_seen_order() -> None:
    assert model_columns(MODELS) == ["mrr", "events_login_30d", "events_export_30d"]


def test_a_frame_built_for_another_model_is_refused_naming_the_columns() -> None:
    frame = pd.DataFrame({"mrr": [1.0, 2.0], "events_login_30d": [3, 4]})
    assert missing_columns(frame, MODELS) == ["events_export_30d"]
    with pytest.raises(ValueError, match="events_export_30d"):
        outcome_probabilities(frame, MODELS)


def test_probabilities_one_column_per_outcome_with_the_frame_s_index() -> None:
    frame = pd.DataFrame({"mrr": [1.0, 2.0], "events_login_30d": [3, 4], "events_export_30d": [0, 1]},
                         index=[10, 11])
    probs = outcome_probabilities(frame, MODELS)
    assert list(probs.columns) == ["churned", "contracted", "expanded"]
    assert list(probs.index) == [10, 11]
    assert probs["expanded"].tolist() == [0.3, 0.3]
