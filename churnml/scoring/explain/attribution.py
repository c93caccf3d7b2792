"""Reasons a CSM can act on: SHAP contributions per account, grouped into units and themes, phrased.

Contributions are LightGBM's exact TreeSHAP (`pred_contrib`, through `churnml.model.pyfunc.score_frame`), in
log-odds; per row, base value + contributions == raw score. `shap.TreeExplainer` gives the same numbers on a
LightGBM booster (it calls `pred_contrib` itself; tests check both it and shap's own tree algorithm) but adds
overhead, so we call the booster directly. The log-odds become probability points by `points.probability_points`.

A *unit* is what one reason speaks for: a feature, with its catalog `reference` feature and any `FAMILIES`
members (one fact, one sentence: "Distinct active users in the last 30 days: 11, down from 16 in the 30 days
before the last 30" carries the contributions of the current window, the previous one and their trend, so
the reference window can never be listed on its own against the movement). Units whose catalog entry is
`context` (renewal timing, contract type, tenure, segment, ...) are never drivers: they are `Explanation.context`.
Sentences come from `sentences`; why a score moved from `change`; the records from `records`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from churnml.features.catalog import FeatureSpec
from churnml.model.model import BASE_VALUE as MODEL_BASE_VALUE
from churnml.model.pyfunc import BASE_VALUE, CONTRIB_PREFIX, PROBABILITY, RAW_SCORE, score_arrays
from churnml.scoring.explain.points import points_by_theme, probability_points
from churnml.scoring.explain.records import (
    DRIVERS,
    PROTECTIVE,
    THEMES,
    Explanation,
    Reason,
    ThemeTotal,
    group_by_theme,
    theme_totals,
)
from churnml.scoring.explain.sentences import Memo, Phraser, _Row, phraser_for, spec_for
from churnml.scoring.explain.slots import Batch, concat_slots, first_slots, phrase_slots, plain_rows, rank_order

MEMO_ROWS = 64  #: from this many rows on, sentences are remembered by the values they read (`sentences.Memo`)
#: Rows explained at a time: a chunk's arrays stay small (in cache, and no fresh memory pages for each array).
CHUNK_ROWS = 8192

#: Pseudo-theme of a score change that comes from a different model (base value and calibrator).
MODEL_PART = "model"

__all__ = ["DRIVERS", "FAMILIES", "MODEL_PART", "PROTECTIVE", "SHARED_SENTENCES", "THEMES", "Batch", "Explanation",
           "Reason", "ThemeTotal", "batch_arrays", "explain_arrays", "explain_batch", "explain_frame",
           "group_by_theme", "is_context", "plan_for", "probability_points", "theme_totals"]


def is_context(spec: FeatureSpec) -> bool:
    """Whether the catalog marks the feature as context (a fact shown beside the reasons, never a cause)."""
    return bool(getattr(spec, "context", False))


# --------------------------------------------------------------------------- units of one reason


#: Features that describe one fact and read as one sentence beyond what the catalog's `reference` links say:
#: their contributions are summed into one reason, phrased by the first member the model has. Twins (two
#: features saying the same thing, `tenure_days` and `account_age_days`) are one fact too: shown once.
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("events_30d", "events_trend_30d"),
    ("active_users_30d", "active_users_trend_30d"),
    ("mrr", "mrr_change_pct_90d", "mrr_change_90d"),
    ("nps_latest", "nps_change", "nps_category", "nps_previous"),
    ("tenure_days", "account_age_days"),
)

#: Units that can phrase the very same sentence (e.g. no ticket closed reads the same from either feature).
#: Equal sentences are merged into one reason; once an account has its top reasons, only units sharing a
#: group with them are still phrased, so each group must list every such unit (a test checks this on
#: simulated data, edge rows included).
SHARED_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("effort_mean_90d", "reopen_rate_90d"),  # both: "No tickets closed in the last 90 days"
)


@dataclass
class _Unit:
    """One reason unit: a feature, or a family of features phrased as one sentence (by `spec`)."""

    spec: FeatureSpec
    members: tuple[str, ...]
    context: bool = False
    say: Phraser | Memo | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.say is None:
            self.say = phraser_for(self.spec)

    def phrase(self, row: _Row) -> str:
        """This unit's sentence for one account."""
        return self.say(row)  # type: ignore[misc]


@dataclass
class _Plan:
    """What explaining needs about the model's features, computed once per frame."""

    names: list[str]
    units: list[_Unit]
    themes: list[str]
    unit_matrix: np.ndarray = field(repr=False)
    theme_matrix: np.ndarray = field(repr=False)
    #: Per unit, the id of its shared-sentence group (its own index when it shares with no other unit).
    groups: list[int] = field(default_factory=list, repr=False)
    #: The model's calibration: raw score -> probability (vectorised).
    calibrate: Callable[[np.ndarray], np.ndarray] = field(default=lambda x: 1.0 / (1.0 + np.exp(-x)), repr=False)
    specs: Mapping[str, FeatureSpec] | None = field(default=None, repr=False)
    #: Per unit, True for context units (never ranked as drivers or protective factors).
    context_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)


def _member_lists(by_name: Mapping[str, FeatureSpec]) -> dict[str, list[str]]:
    """Feature -> the members of its unit (head first): `FAMILIES`, then each feature with its reference;
    overlapping groups merge (`events_30d` + its trend + `events_prev_30d`)."""
    groups = [list(f) for f in FAMILIES]
    groups += [[n, s.reference] for n, s in by_name.items() if s.reference]
    unit_of: dict[str, list[str]] = {}
    for g in groups:
        members = [m for m in g if m in by_name]
        if len(members) < 2:
            continue
        target: list[str] | None = None
        for m in members:
            found = unit_of.get(m)
            if found is None or found is target:
                continue
            if target is None:
                target = found
            else:
                target.extend(x for x in found if x not in target)
        target = target if target is not None else []
        target.extend(m for m in members if m not in target)
        for m in target:
            unit_of[m] = target
    return unit_of


def _plan(model: Any, specs: Mapping[str, FeatureSpec] | None) -> _Plan:
    names = list(model.feature_names_)
    cats = set(getattr(model, "categorical_features_", ()))
    by_name = {n: spec_for(n, specs, numeric=n not in cats) for n in names}
    unit_of = _member_lists(by_name)
    units: list[_Unit] = []
    seen: set[str] = set()
    for n in names:
        if n in seen:
            continue
        members = tuple(unit_of.get(n, [n]))
        seen.update(members)
        head = by_name[members[0]]
        units.append(_Unit(head, members, any(is_context(by_name[m]) for m in members), phraser_for(head, specs)))
    index = {n: j for j, n in enumerate(names)}
    unit_matrix = np.zeros((len(names), len(units)))
    for k, u in enumerate(units):
        for m in u.members:
            unit_matrix[index[m], k] = 1.0
    present = {s.theme for s in by_name.values()}
    themes = [t for t in THEMES if t in present] + sorted(present - set(THEMES))
    theme_matrix = np.zeros((len(names), len(themes)))
    for j, n in enumerate(names):
        theme_matrix[j, themes.index(by_name[n].theme)] = 1.0
    group_of = {m: len(units) + g for g, grp in enumerate(SHARED_SENTENCES) for m in grp}
    groups = [min((group_of[m] for m in u.members if m in group_of), default=k) for k, u in enumerate(units)]
    calibrator = getattr(model, "calibrator_", None)
    plan = _Plan(names, units, themes, unit_matrix, theme_matrix, groups, specs=specs,
                 context_mask=np.array([u.context for u in units], dtype=bool))
    if calibrator is not None:
        plan.calibrate = calibrator.transform
    return plan


def plan_for(model: Any, specs: Mapping[str, FeatureSpec] | None = None) -> _Plan:
    """What explaining needs about `model`'s features (units, themes, shared-sentence groups); reusable."""
    return _plan(model, specs)


# --------------------------------------------------------------------------- explaining a frame


def _columns(frame: pd.DataFrame, names: Collection[str] | None = None) -> dict[str, Any]:
    """The columns (all, or those in `names`: what the phrasers read) as arrays for per-row access
    (`sentences._Row`): numbers as float64 (NaN where missing), others as objects (None where missing)."""
    out: dict[str, Any] = {}
    for c in frame.columns if names is None else [c for c in frame.columns if c in names]:
        col = frame[c]
        if col.dtype == np.float64:
            out[c] = col.to_numpy()
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[c] = col.to_numpy(dtype="float64", na_value=np.nan)
        else:
            values = col.to_numpy(dtype=object, copy=True)  # may be a read-only view otherwise
            values[pd.isna(values)] = None
            out[c] = values
    return out


def _phraser(unit: _Unit) -> Phraser:
    """The unit's `Phraser` itself (not a `Memo` around it)."""
    return unit.say.say if isinstance(unit.say, Memo) else unit.say  # type: ignore[return-value]


def _group_sums(contrib: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Column sums per group, added column by column (unlike a matrix product, a row's result then does not
    depend on which other rows are in the batch: explanations are reproducible to the last bit)."""
    out = np.zeros((contrib.shape[0], groups.shape[1]))
    for j, k in zip(*np.nonzero(groups), strict=True):
        out[:, k] += contrib[:, j]
    return out


def explain_frame(
    model: Any,
    frame: pd.DataFrame,
    *,
    top_n: int = 3,
    min_contribution: float = 0.01,
    specs: Sequence[FeatureSpec] | Mapping[str, FeatureSpec] | None = None,
    scores: pd.DataFrame | None = None,
) -> list[Explanation]:
    """Score and explain every row of a feature frame (same order as the frame).

    Args:
        model: a fitted `ChurnModel` (anything with its interface).
        frame: feature frame (`churnml.features.to_frame`); needs `account_id`; extra columns are used as
            comparison points in sentences (e.g. `events_prev_30d`) even when the model does not use them.
        top_n: at most this many risk drivers, protective factors and context facts per account.
        min_contribution: reasons whose contribution is smaller than this (log-odds, absolute) are left out.
        specs: registry entries to phrase with (default: the registry; static attributes get generic ones).
        scores: `churnml.model.pyfunc.score_frame(model, frame, explain=True)` if already computed.

    Returns:
        One `Explanation` per row; deterministic for the same rows and model.
    """
    return explain_batch(model, frame, top_n=top_n, min_contribution=min_contribution, specs=specs,
                         scores=scores).explanations()


def explain_batch(
    model: Any,
    frame: pd.DataFrame,
    *,
    top_n: int = 3,
    min_contribution: float = 0.01,
    specs: Sequence[FeatureSpec] | Mapping[str, FeatureSpec] | None = None,
    scores: pd.DataFrame | None = None,
) -> Batch:
    """`explain_frame` as arrays (`slots.Batch`), without an object per reason: what the score table is made of."""
    spec_map = {s.name: s for s in specs} if isinstance(specs, Sequence) else specs
    plan = plan_for(model, spec_map)
    if scores is None:  # straight from the model's arrays: no score frame to build and take apart
        raw, prob, shap = score_arrays(model, frame, explain=True)
        values, at = shap.to_numpy(dtype="float64"), shap.columns.get_indexer(plan.names)
        contrib = values[:, :len(at)] if np.array_equal(at, np.arange(len(at))) else values[:, at]  # no copy
        base = values[:, shap.columns.get_loc(MODEL_BASE_VALUE)]
    else:
        contrib = scores[[f"{CONTRIB_PREFIX}{n}" for n in plan.names]].to_numpy(dtype="float64")
        base, raw, prob = (scores[c].to_numpy(dtype="float64") for c in (BASE_VALUE, RAW_SCORE, PROBABILITY))
    ids = frame["account_id"].astype(str).to_numpy()
    return batch_arrays(plan, ids, np.asarray(prob, dtype="float64"), np.asarray(raw, dtype="float64"), base,
                        contrib, _columns(frame, {n for u in plan.units for n in _phraser(u).reads}), top_n=top_n,
                        min_contribution=min_contribution)


def explain_arrays(plan: _Plan, ids: Sequence[str], prob: np.ndarray, raw: np.ndarray, base: np.ndarray,
                   contrib: np.ndarray, cols: Mapping[str, Any], *, top_n: int = 3,
                   min_contribution: float = 0.01) -> list[Explanation]:
    """`explain_frame` from arrays: contributions (n, features in `plan.names` order), margins, probabilities,
    base values, and the rows' values by column (`cols`, for phrasing). Batch scoring and the API both end here
    (`batch_arrays`)."""
    return batch_arrays(plan, ids, prob, raw, base, contrib, cols, top_n=top_n,
                        min_contribution=min_contribution).explanations()


def batch_arrays(plan: _Plan, ids: Sequence[str], prob: np.ndarray, raw: np.ndarray, base: np.ndarray,
                 contrib: np.ndarray, cols: Mapping[str, Any], *, top_n: int = 3,
                 min_contribution: float = 0.01) -> Batch:
    """`explain_arrays` as arrays (`slots.Batch`), `CHUNK_ROWS` rows at a time (`_explain_rows`), phrased at once.

    Context units are ranked apart (`Explanation.context`). Rows where no shared-sentence group has two units
    above `min_contribution` cannot merge sentences: their reasons are the strongest units of each sign
    (`slots.first_slots`); the others go through the merging search (`_explain_row`)."""
    base, prob = np.asarray(base, dtype="float64"), np.asarray(prob, dtype="float64")
    sayers = [_phraser(u) for u in plan.units]
    if len(ids) >= MEMO_ROWS:  # sentences remembered for these rows only (a plan may be kept across calls)
        plan = replace(plan, units=[replace(u, say=Memo(u.say)) if u.say and u.say.template is None else u
                                    for u in plan.units])
    parts = [_explain_rows(plan, slice(a, a + CHUNK_ROWS), prob, base, contrib, cols, top_n, min_contribution)
             for a in range(0, max(len(ids), 1), CHUNK_ROWS)]
    by_theme, theme_points, base_prob = (np.concatenate([p[k] for p in parts]) for k in range(3))
    drivers, protective, context = (concat_slots([p[k] for p in parts]) for k in (3, 4, 5))
    phrase_slots(sayers, cols, [drivers, protective, context])
    return Batch(ids, prob, np.asarray(raw, dtype="float64"), base, base_prob, list(plan.themes), by_theme,
                 theme_points, drivers, protective, context, [u.spec.name for u in plan.units],
                 [u.spec.theme for u in plan.units], [u.members for u in plan.units],
                 {i: found for p in parts for i, found in p[6].items()})


def _explain_rows(plan: _Plan, rows: slice, prob: np.ndarray, base: np.ndarray, contrib: np.ndarray,
                  cols: Mapping[str, Any], top_n: int, min_contribution: float) -> tuple[Any, ...]:
    """For the rows `rows`: log-odds and points by theme, base probabilities, the reason slots (not phrased) and
    the merging search's reasons of the rows that need it (by row index). A row's numbers depend on it alone."""
    contrib, prob, base = contrib[rows], prob[rows], base[rows]
    by_theme = _group_sums(contrib, plan.theme_matrix)
    by_unit = _group_sums(contrib, plan.unit_matrix)
    base_prob = np.asarray(plan.calibrate(base), dtype="float64")
    points = probability_points(by_unit, base, prob, base_prob, plan.calibrate)
    unit_of = plan.unit_matrix.argmax(axis=1)
    theme_points = points_by_theme(points, contrib, by_unit, unit_of, plan.theme_matrix)
    ranked = np.where(plan.context_mask, 0.0, by_unit)  # context is never a driver
    ctx = np.flatnonzero(plan.context_mask)
    context_order = rank_order(np.abs(by_unit[:, ctx]), ctx, min_contribution)[:, :top_n]
    units = np.flatnonzero(~plan.context_mask) if min_contribution >= 0 else np.arange(len(plan.units))
    order = rank_order(ranked[:, units], units, min_contribution)
    drivers = first_slots(order[:, :top_n], ranked, points, 1, min_contribution)
    protective = first_slots(order[:, ::-1][:, :top_n], ranked, points, -1, min_contribution)
    plain = plain_rows(ranked, plan.groups, min_contribution, (drivers, protective))
    drivers.valid &= plain[:, None]
    protective.valid &= plain[:, None]
    context = first_slots(context_order, by_unit, points, 0, min_contribution)
    start = rows.start or 0
    searched = {start + int(i): _explain_row(order[i], ranked[i], points[i], plan, _Row(cols, start + int(i)), top_n,
                                             min_contribution) for i in np.flatnonzero(~plain)}
    return by_theme, theme_points, base_prob, drivers, protective, context, searched


# --------------------------------------------------------------------------- the top reasons of one row


def _candidates(order: Any, contrib: np.ndarray, sign: int, plan: _Plan, row: _Row, top_n: int,
                min_contribution: float) -> dict[str, list[Any]]:
    """Sentence -> [unit index, contribution, more unit indices...] for the strongest units of one sign, equal
    sentences summed.

    Once `top_n` sentences are found, a weaker unit can only add to one of them, which needs a shared-sentence
    group with it: other units are not phrased at all (phrasing is most of the per-account cost).
    """
    found: dict[str, list[Any]] = {}
    open_groups: set[int] = set()
    for k in order:
        c = contrib[k]
        if sign * c <= min_contribution:
            break
        full = len(found) >= top_n
        if full and plan.groups[k] not in open_groups:
            continue
        sentence = plan.units[k].say(row)
        if sentence in found:
            found[sentence][1] += c
            found[sentence].append(k)
        elif not full:
            found[sentence] = [k, c]
            open_groups.add(plan.groups[k])
    return found


def _reasons(found: dict[str, list[Any]], sign: int, plan: _Plan, points: np.ndarray, top_n: int,
             min_contribution: float) -> tuple[Reason, ...]:
    out = []
    for sentence, (k, c, *more) in found.items():
        p = float(sum(points[j] for j in (k, *more)))
        if sign * c <= min_contribution or sign * p < 0:
            continue
        unit = plan.units[k]
        members = unit.members + tuple(m for j in more for m in plan.units[j].members)
        out.append(Reason(unit.spec.name, unit.spec.theme, float(c), sentence, members, p))
    out.sort(key=lambda r: -sign * r.contribution)
    return tuple(out[:top_n])


def _explain_row(order: np.ndarray, contrib: np.ndarray, points: np.ndarray, plan: _Plan, row: _Row, top_n: int,
                 min_contribution: float) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    up = _candidates(order, contrib, 1, plan, row, top_n, min_contribution)
    down = _candidates(order[::-1], contrib, -1, plan, row, top_n, min_contribution)
    for sentence in up.keys() & down.keys():  # one fact pulling both ways: only its net effect counts
        k, c, *more = down.pop(sentence)
        up[sentence][1] += c
        up[sentence].extend([k, *more])
        if sum(points[j] for j in (up[sentence][0], *up[sentence][2:])) < 0:
            down[sentence] = up.pop(sentence)
    return (_reasons(up, 1, plan, points, top_n, min_contribution),
            _reasons(down, -1, plan, points, top_n, min_contribution))
