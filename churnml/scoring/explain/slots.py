"""The reasons of many accounts at once, as arrays: `ReasonSlots` (one kind of reason, every row), `rank_order`
and `first_slots` (which units fill them), `phrase_slots` (their sentences) and `Batch` (a whole batch's
explanations, as arrays).

An account's plain reasons (no shared-sentence merge possible, `slots.plain_rows`) are its strongest
units of one sign in rank order (`rank_order`), up to the first one at or below `min_contribution`: a slice of
the rank matrix, taken for every row at once. A sentence depends only on the values of the columns its phraser reads
(`Phraser.reads`), numbers only as they are shown (`Phraser.keys`), so for many rows each unit is phrased once
per distinct keys among the accounts it is a reason of, and the sentence shared: the text a phrasing per row gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.scoring.explain.records import Explanation, Reason
from churnml.scoring.explain.sentences import _Row

#: From this many rows on, each unit is phrased once per distinct value (below, once per reason).
BULK_ROWS = 64


@dataclass
class ReasonSlots:
    """The top reasons of one kind (risk drivers, protective factors or context facts) of every row.

    Arrays are (rows, slots), slot 0 the strongest; a row's valid slots come first, then invalid ones.
    `sentence` holds None where a slot is invalid, or until `phrase_slots` fills it.
    """

    unit: np.ndarray
    valid: np.ndarray
    contribution: np.ndarray
    points: np.ndarray
    sentence: np.ndarray


def first_slots(take: np.ndarray, values: np.ndarray, points: np.ndarray, sign: int,
                min_contribution: float) -> ReasonSlots:
    """Slots from the units `take` (rows × slots, rank order) of each row: valid up to the first whose value
    (`values`, rows × units) is at or below `min_contribution` after multiplying by `sign` (0: its absolute).

    What a loop over each row's ranked units with `if sign * c <= min_contribution: break` keeps.
    """
    c = np.take_along_axis(values, take, axis=1)
    test = np.abs(c) if sign == 0 else sign * c
    valid = np.logical_and.accumulate(~(test <= min_contribution), axis=1)
    return ReasonSlots(take, valid, c, np.take_along_axis(points, take, axis=1),
                       np.full(take.shape, None, dtype=object))


def concat_slots(parts: Sequence[ReasonSlots]) -> ReasonSlots:
    """The slots of consecutive row blocks as one, narrower blocks padded with invalid slots."""
    width = max(p.unit.shape[1] for p in parts)

    def pad(a: np.ndarray, fill: Any) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill) if a.shape[1] < width else a

    return ReasonSlots(*(np.concatenate([pad(getattr(p, f), fill) for p in parts]) for f, fill in (
        ("unit", 0), ("valid", False), ("contribution", 0.0), ("points", 0.0), ("sentence", None))))


def rank_order(values: np.ndarray, columns: np.ndarray, min_contribution: float) -> np.ndarray:
    """Per row, the units `columns` in the stable order of `values` (rows × len(columns)), largest first.

    With `min_contribution` ≥ 0 the columns that are zero in every row are left out: no reason can come from
    them, and each row's prefix of units above the threshold is the same as in the full order."""
    columns = np.asarray(columns, dtype=np.int64)
    if min_contribution >= 0:
        keep = np.any(values != 0, axis=0)
        values, columns = values[:, keep], columns[keep]
    return columns[np.argsort(-values, axis=1, kind="stable")]


def plain_rows(by_unit: np.ndarray, groups: Sequence[int], min_contribution: float,
               first: Sequence[ReasonSlots]) -> np.ndarray:
    """Rows whose reasons need no merging search: no shared-sentence group has two units above
    `min_contribution` (absolute; `groups`: each unit's group) with one of them among the row's first reasons
    of either sign (`first`).

    Why that suffices: `attribution._candidates` merges a unit into a sentence only within its group, and once `top_n`
    sentences are found it looks only at units of their groups; a group none of whose units is a first
    reason cannot reach the reasons."""
    active = np.abs(by_unit) > min_contribution
    top = np.zeros(by_unit.shape, dtype=bool)
    rows = np.arange(len(by_unit))[:, None]
    for slots in first:
        top[np.broadcast_to(rows, slots.unit.shape)[slots.valid], slots.unit[slots.valid]] = True
    crowded = np.zeros(len(by_unit), dtype=bool)
    groups = np.asarray(groups)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) > 1:
            crowded |= (active[:, members].sum(axis=1) > 1) & top[:, members].any(axis=1)
    return ~crowded


def _codes(keys: Sequence[np.ndarray]) -> np.ndarray:
    """Per row, an integer that is equal exactly where every one of `keys` is (missing values alike)."""
    code = np.zeros(len(keys[0]) if keys else 0, dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(key)  # missing (None, NaN) -> -1
        code = code * (len(uniques) + 1) + (codes + 1)
        code = np.unique(code, return_inverse=True)[1].astype(np.int64).ravel()  # kept small for the next key
    return code


def phrase_slots(sayers: Sequence[Any], cols: Mapping[str, Any], slots: Sequence[ReasonSlots]) -> None:
    """Fill the `sentence` of every valid slot: `sayers[unit](row)` (a `Phraser`), once per distinct
    `Phraser.keys` per unit when there are `BULK_ROWS` rows or more."""
    n = len(slots[0].unit) if slots else 0
    rows = np.concatenate([np.nonzero(s.valid)[0] for s in slots]) if slots else np.zeros(0, dtype=np.int64)
    where = [np.nonzero(s.valid) for s in slots]
    units = np.concatenate([s.unit[w] for s, w in zip(slots, where, strict=True)]) if slots else rows
    texts = np.empty(len(rows), dtype=object)
    if n < BULK_ROWS:
        for j, (i, k) in enumerate(zip(rows.tolist(), units.tolist(), strict=True)):
            texts[j] = sayers[k](_Row(cols, i))
    else:
        by_unit = np.argsort(units, kind="stable")
        bounds = np.flatnonzero(np.diff(units[by_unit])) + 1
        for part in np.split(by_unit, bounds) if len(by_unit) else []:
            say = sayers[int(units[part[0]])]
            r = rows[part]
            _, first, inverse = np.unique(_codes(say.keys(cols, r)), return_index=True, return_inverse=True)
            said = np.array([say(_Row(cols, int(i))) for i in r[first]], dtype=object)
            texts[part] = said[inverse.ravel()]
    start = 0
    for s, w in zip(slots, where, strict=True):
        s.sentence[w] = texts[start:start + len(w[0])]
        start += len(w[0])


@dataclass
class Batch:
    """Explanations of many rows as arrays; `explanations()` gives them as `Explanation` objects.

    `drivers` / `protective` slots are valid only in plain rows; the other rows' reasons (from the merging
    search) are in `searched`: row -> (drivers, protective). Per unit: `features` (the phrased feature),
    `unit_themes`, `members` (every feature it speaks for).
    """

    ids: Sequence[str]
    probability: np.ndarray
    raw: np.ndarray
    base: np.ndarray
    base_probability: np.ndarray
    themes: list[str]
    by_theme: np.ndarray
    theme_points: np.ndarray
    drivers: ReasonSlots
    protective: ReasonSlots
    context: ReasonSlots
    features: list[str]
    unit_themes: list[str]
    members: list[tuple[str, ...]]
    searched: dict[int, tuple[tuple[Reason, ...], tuple[Reason, ...]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def theme_dict(self, i: int) -> dict[str, float]:
        """Row `i`'s log-odds by theme (`Explanation.themes`)."""
        return dict(zip(self.themes, self.by_theme[i].tolist(), strict=True))

    def _reasons(self, s: ReasonSlots) -> list[tuple[Reason, ...]]:
        unit, valid, c, p = s.unit.tolist(), s.valid.tolist(), s.contribution.tolist(), s.points.tolist()
        sentence, f, t, m = s.sentence.tolist(), self.features, self.unit_themes, self.members
        return [tuple(Reason(f[k], t[k], c[i][j], sentence[i][j], m[k], p[i][j])
                      for j, k in enumerate(unit[i]) if valid[i][j]) for i in range(len(unit))]

    def explanations(self) -> list[Explanation]:
        """One `Explanation` per row, in row order."""
        drivers, protective, context = (self._reasons(s) for s in (self.drivers, self.protective, self.context))
        for i, (d, p) in self.searched.items():
            drivers[i], protective[i] = d, p
        themes, theme_rows, point_rows = self.themes, self.by_theme.tolist(), self.theme_points.tolist()
        prob, raw, base, base_prob = (a.tolist() for a in (self.probability, self.raw, self.base,
                                                           self.base_probability))
        return [Explanation(
            account_id=self.ids[i], probability=prob[i], raw_score=raw[i], base_value=base[i],
            themes=dict(zip(themes, theme_rows[i], strict=True)), drivers=drivers[i], protective=protective[i],
            context=context[i], base_probability=base_prob[i],
            theme_points=dict(zip(themes, point_rows[i], strict=True)),
        ) for i in range(len(self.ids))]
