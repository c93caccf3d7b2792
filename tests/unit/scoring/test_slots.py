"""Reasons of many rows at once (`churnml.scoring.explain.slots`): the same slots as a loop per row, and the same
sentences as phrasing every reason of every row on its own."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from churnml.features.catalog import FEATURES
from churnml.scoring.explain.sentences import TEMPLATE_READS, TEMPLATES, _Row, phraser_for
from churnml.scoring.explain.slots import BULK_ROWS, first_slots, phrase_slots, rank_order

#: Contributions with ties, zeros and values on the threshold.
cells = st.sampled_from([0.0, -0.0, 0.01, -0.01, 0.02, -0.5, 0.5, 1.0, -1.0, 0.3, -0.3])


def _reference(take: np.ndarray, values: np.ndarray, points: np.ndarray, sign: int,
               min_contribution: float) -> list[list[tuple[int, float, float]]]:
    """The loop per row the slots stand for: ranked units until the first at or below the threshold."""
    out = []
    for i in range(len(take)):
        row = []
        for k in take[i]:
            c = values[i, k]
            if (abs(c) if sign == 0 else sign * c) <= min_contribution:
                break
            row.append((int(k), float(c), float(points[i, k])))
        out.append(row)
    return out


@settings(max_examples=200, deadline=None)
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 9)), elements=cells),
       sign=st.sampled_from([1, -1, 0]), top_n=st.integers(0, 5),
       min_contribution=st.sampled_from([0.01, 0.0, -0.2, 0.3]))
def test_first_slots_are_the_loop_per_row(values: np.ndarray, sign: int, top_n: int,
                                          min_contribution: float) -> None:
    points = values * 7.0 + 1.0
    order = np.argsort(-(np.abs(values) if sign == 0 else sign * values), axis=1, kind="stable")
    take = order[:, :top_n]
    slots = first_slots(take, values, points, sign, min_contribution)
    want = _reference(take, values, points, sign, min_contribution)
    got = [[(int(slots.unit[i, j]), float(slots.contribution[i, j]), float(slots.points[i, j]))
            for j in range(take.shape[1]) if slots.valid[i, j]] for i in range(len(take))]
    assert got == want
    assert not (np.diff(slots.valid.astype(int), axis=1) > 0).any()  # valid slots come first


@settings(max_examples=200, deadline=None)
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 9)), elements=cells),
       zero=st.lists(st.booleans(), min_size=9, max_size=9), sign=st.sampled_from([1, -1]), top_n=st.integers(1, 5),
       min_contribution=st.sampled_from([0.01, 0.0, 0.3, -0.2]))
def test_rank_order_gives_the_full_orders_reasons(values: np.ndarray, zero: list[bool], sign: int, top_n: int,
                                                  min_contribution: float) -> None:
    """Leaving out units that are zero in every row changes no row's reasons."""
    values = np.where(np.array(zero[:values.shape[1]]), 0.0, values)
    columns = np.arange(values.shape[1])
    full = np.argsort(-values, axis=1, kind="stable")
    short = rank_order(values, columns, min_contribution)
    if sign < 0:
        full, short = full[:, ::-1], short[:, ::-1]
    want = _reference(full[:, :top_n], values, values, sign, min_contribution)
    assert _reference(short[:, :top_n], values, values, sign, min_contribution) == want
    if min_contribution < 0:
        assert np.array_equal(short, full)


#: Every catalog feature's phraser, with the columns its sentences read.
SAYERS = [phraser_for(s) for s in FEATURES]
CATEGORICAL = {s.name for s in FEATURES if s.kind == "categorical"}
#: Values that share a shown text or sit next to one: repeats, NaN, signed zeros, one, halves of cents/percent.
NUMBERS = np.array([np.nan, 0.0, -0.0, 1.0, 1.0 + 1e-12, 0.999999999, 2.0, 0.005, 0.015, 0.0995, 0.1, 0.105, 2.675,
                    9.995, 12.0, 40.0, 99.5, 100.0, 1234.5, 0.25, 0.26, -3.0, 7.0, 365.0, 800.0, 0.5])
LEVELS = np.array([None, "annual", "monthly", "multi_year", "detractor", "passive", "promoter", "smb"], dtype=object)


def _batch(seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Columns for every value the catalog's phrasers read (a few values each, so rows share them), and two
    reason slots per row of random units."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(BULK_ROWS, BULK_ROWS + 200))
    cols: dict = {}
    for name in sorted({n for s in SAYERS for n in s.reads}):
        if name in CATEGORICAL:
            cols[name] = rng.choice(LEVELS, n)
        else:
            pool = np.concatenate([rng.choice(NUMBERS, 4), rng.uniform(-1e3, 1e3, 2).round(int(rng.integers(0, 4)))])
            cols[name] = rng.choice(pool, n)
    return cols, rng.integers(0, len(SAYERS), (n, 2)), rng.random((n, 2)) < 0.8


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_bulk_phrasing_is_phrasing_each_reason(seed: int) -> None:
    cols, units, valid = _batch(seed)
    slots = first_slots(units, np.ones((len(units), len(SAYERS))), np.zeros((len(units), len(SAYERS))), 1, 0.0)
    slots.valid &= valid
    phrase_slots(SAYERS, cols, [slots])
    for i, j in zip(*np.nonzero(slots.valid), strict=True):
        assert slots.sentence[i, j] == SAYERS[units[i, j]](_Row(cols, int(i)))
    assert all(s is None for s in slots.sentence[~slots.valid])


class _Recording(_Row):
    """A row that notes which columns are read."""

    __slots__ = ("seen",)

    def __init__(self, cols: dict, i: int) -> None:
        super().__init__(cols, i)
        self.seen: set[str] = set()

    def __call__(self, name: str | None):  # type: ignore[no-untyped-def]
        if name is not None:
            self.seen.add(name)
        return super().__call__(name)


def test_templates_read_only_their_declared_columns() -> None:
    """Bulk phrasing keys a templated sentence by its own value and `TEMPLATE_READS`: no other column may matter."""
    cols = {s.name: (LEVELS if s.name in CATEGORICAL else NUMBERS[:len(LEVELS)]) for s in FEATURES}
    for name in TEMPLATES:
        say = phraser_for(next(s for s in FEATURES if s.name == name))
        for i in range(len(LEVELS)):
            row = _Recording(cols, i)
            say(row)
            assert row.seen <= {name, *TEMPLATE_READS.get(name, ())}, (name, row.seen)
