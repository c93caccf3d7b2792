"""Categorical codes for the booster: each value's index in the learned levels by its text, NaN when missing or
unseen, whatever the column's dtype and however many rows (the bulk path looks each distinct value up once)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.model.model import _codes

LEVELS = ["a", "b", "1", "1.5", "True", "é"]
VALUES = st.sampled_from(["a", "b", "c", "1", "é", "", None, np.nan])


def _per_value(col: pd.Series, levels: list[str]) -> np.ndarray:
    index = {level: float(k) for k, level in enumerate(levels)}
    return np.array([np.nan if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                     else index.get(str(v), np.nan) for v in col.to_numpy(dtype=object)], dtype="float64")


@settings(max_examples=60, deadline=None)
@given(st.lists(VALUES, min_size=33, max_size=200), st.sampled_from(["object", "category", "string"]))
def test_bulk_codes_equal_a_lookup_per_value(values: list[object], dtype: str) -> None:
    col = pd.Series(values, dtype=dtype)
    np.testing.assert_array_equal(_codes(col, LEVELS), _per_value(col, LEVELS))


def test_numbers_and_booleans_match_their_text() -> None:
    for col in (pd.Series([1, 2, 1] * 20), pd.Series([1.5, np.nan, 1.0] * 20), pd.Series([True, False] * 30)):
        got = _codes(col, LEVELS)
        np.testing.assert_array_equal(got, _per_value(col, LEVELS))
        assert np.isfinite(got).any()  # "1", "1.5", "True" are levels: some values are found
