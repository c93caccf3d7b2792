"""The score table's JSON columns built per column (`churnml.scoring.json_columns`) are, text for text, what
`orjson.dumps` of each row's dicts gives (`Reason.to_dict`, {key: value} with NaN as null)."""

from __future__ import annotations

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.scoring.explain.records import Reason
from churnml.scoring.explain.slots import Batch, ReasonSlots
from churnml.scoring.json_columns import reasons_column, records_column

FEATURES = ["events_30d", "mrr", 'odd "name"\\', "ünïcode"]
THEMES = ["usage", "commercial", "support", "account"]
MEMBERS = [("events_30d", "events_prev_30d"), ("mrr",), (), ("ünïcode", "x")]
SENTENCES = ["Product events in the last 30 days: 12, down from 40", 'Quote " and \\ backslash', "line\nbreak\ttab",
             "Monthly recurring revenue: $300 — 1.5×", "emoji 🙂", ""]
#: Numbers with rounding halves, tiny and huge values, signed zeros.
NUMBERS = [0.0, -0.0, 0.1234565, -0.1234565, 2.675, 1e-7, -3e-5, 12.5, 1e20, 0.00005, 0.00015, 0.333333333]


def _slots(rng: np.random.Generator, n: int, k: int) -> ReasonSlots:
    count = rng.integers(0, k + 1, n)
    valid = np.arange(k)[None, :] < count[:, None]
    contribution = np.where(rng.random((n, k)) < 0.5, rng.choice(NUMBERS, (n, k)), rng.normal(0, 0.3, (n, k)))
    points = np.where(rng.random((n, k)) < 0.5, rng.choice(NUMBERS, (n, k)), rng.normal(0, 5, (n, k)))
    sentence = np.where(valid, rng.choice(np.array(SENTENCES, dtype=object), (n, k)), None)
    return ReasonSlots(rng.integers(0, len(FEATURES), (n, k)), valid, contribution, points, sentence)


def _reasons(b: Batch, s: ReasonSlots, i: int) -> list[Reason]:
    return [Reason(b.features[u], b.unit_themes[u], float(s.contribution[i, j]), s.sentence[i, j], b.members[u],
                   float(s.points[i, j])) for j, u in enumerate(s.unit[i]) if s.valid[i, j]]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30), k=st.integers(0, 4))
def test_reasons_column_is_dumps_of_to_dict(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    drivers, protective, context = (_slots(rng, n, k) for _ in range(3))
    searched = {int(i): (tuple(_reasons_for(rng)), tuple(_reasons_for(rng)))
                for i in np.flatnonzero(rng.random(n) < 0.2)}
    b = Batch([f"A{i}" for i in range(n)], np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), [], np.zeros((n, 0)),
              np.zeros((n, 0)), drivers, protective, context, FEATURES, THEMES, MEMBERS, searched)
    for slots, which in ((drivers, 0), (protective, 1), (context, None)):
        got = list(reasons_column(b, slots, searched=which))
        want = [orjson.dumps([r.to_dict() for r in (searched[i][which] if which is not None and i in searched
                                                     else _reasons(b, slots, i))]).decode() for i in range(n)]
        assert got == want


def _reasons_for(rng: np.random.Generator) -> list[Reason]:
    return [Reason("merged", "support", float(rng.normal()), str(rng.choice(SENTENCES)), ("a", "b"),
                   float(rng.normal())) for _ in range(int(rng.integers(0, 3)))]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30), width=st.integers(0, 5))
def test_records_column_is_dumps_of_the_row_dict(seed: int, n: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    keys = ["usage", 'q"uote', "ünï", "b", "c"][:width]
    matrix = np.where(rng.random((n, width)) < 0.2, np.nan, rng.choice([*NUMBERS, 1.0, -2.5], (n, width)))
    matrix = np.where(rng.random((n, width)) < 0.5, matrix, rng.normal(0, 10, (n, width)))
    got = list(records_column(keys, matrix))
    want = [orjson.dumps({k: (None if np.isnan(v) else v) for k, v in zip(keys, row.tolist(), strict=True)}).decode()
            for row in matrix]
    assert got == want
