"""`round_half_even` is Python's `round` to the last bit; `format_keys` are equal only where `float_formatter`'s
texts are (what phrasing many values once per key relies on)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.features.units import float_formatter, format_keys, round_half_even

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
#: Values on and next to the rounding halves of 2, 4 and 6 places, where a vectorised round would go wrong.
halves = st.builds(lambda k, d, ulps: float(np.nextafter((k + 0.5) / 10**d, np.inf * ulps) if ulps else
                                            (k + 0.5) / 10**d),
                   st.integers(-10**7, 10**7), st.sampled_from([0, 1, 2, 4, 6]), st.sampled_from([-1, 0, 1]))


@settings(max_examples=300, deadline=None)
@given(st.lists(floats | halves, min_size=1, max_size=40), st.sampled_from([0, 1, 2, 4, 6]))
def test_round_half_even_is_pythons_round(values: list[float], digits: int) -> None:
    got = round_half_even(np.array(values), digits)
    want = np.array([round(v, digits) for v in values])
    assert np.array_equal(got.view(np.int64), want.view(np.int64)) or np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_round_half_even_on_known_halves() -> None:
    values = np.array([2.675, 0.125, -0.125, 1.0000005, 2.5, -2.5, 0.5e-6, 1e300, -0.0, 0.0000004])
    for digits in (0, 2, 6):
        assert round_half_even(values, digits).tolist() == [round(v, digits) for v in values.tolist()]


UNITS = [("USD", True), ("%", True), ("ratio", True), ("score", True), ("", True), ("events", True),
         ("events", False), ("days", True), ("tickets", True), ("hours", False)]
#: Values that share or nearly share a shown text: near whole numbers, one, cents, percent steps.
near = st.builds(lambda base, eps: base + eps,
                 st.sampled_from([0.0, 1.0, -1.0, 0.005, 0.015, 0.0995, 0.1, 0.105, 2.675, 9.995, 99.5, 100.0, 1234.5]),
                 st.sampled_from([0.0, 1e-12, -1e-12, 1e-10, -1e-10, 1e-9, 2e-9, -2e-9, 1e-6, -1e-6, 1e-3]))


@pytest.mark.parametrize(("unit", "with_unit"), UNITS)
@settings(max_examples=150, deadline=None)
@given(values=st.lists(near | st.floats(-1e6, 1e6), min_size=2, max_size=30))
def test_equal_format_keys_give_equal_texts(unit: str, with_unit: bool, values: list[float]) -> None:
    fmt, keys = float_formatter(unit, with_unit), format_keys(unit, with_unit)
    x = np.array(values)
    k = keys(x)
    texts: dict[tuple, str] = {}
    for i, v in enumerate(values):
        key = tuple(col[i].item() for col in k)
        assert texts.setdefault(key, fmt(v)) == fmt(v), (key, v, texts[key])


def test_format_keys_tell_shown_values_apart() -> None:
    """Keys are not trivially constant: different shown values have different keys."""
    x = np.array([1.0, 2.0, 0.25, 0.26])
    for unit, with_unit in UNITS:
        k = format_keys(unit, with_unit)(x)
        assert len({tuple(col[i].item() for col in k) for i in range(len(x))}) == 4
