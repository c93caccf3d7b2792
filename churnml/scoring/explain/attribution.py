"""Reasons a CSM can act on: SHAP contributions per account, grouped into units and themes, phrased.

Contributions are LightGBM's exact TreeSHAP (`pred_contrib`, through `churnml.model.pyfunc.score_frame`), in
log-odds; per row, base value + contributions == raw score. `shap.TreeExplainer` gives the same numbers on a
LightGBM booster (it calls `pred_contrib` itself; tests check both it and shap's own tree algorithm) but adds
overhead, so we call the booster directly. Sentences come from `sentences`; why a score moved from `change`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, get_args

import numpy as np
import pandas as pd

from churnml.features.catalog import FeatureSpec, Theme
from churnml.model.model import BASE_VALUE as MODEL_BASE_VALUE
from churnml.model.pyfunc import BASE_VALUE, CONTRIB_PREFIX, PROBABILITY, RAW_SCORE, score_arrays
from churnml.scoring.explain.sentences import _Row, phrase, spec_for

THEMES: tuple[str, ...] = get_args(Theme)  # the catalog's themes, in its order
#: Pseudo-theme of a score change that comes from a different model (base value and calibrator).
MODEL_PART = "model"
DRIVERS = "drivers"
PROTECTIVE = "protective"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Reason:
    """One reason. `contribution` is in log-odds: > 0 raises risk (a driver), < 0 lowers it (protective).

    `features` lists every feature whose contribution was merged into this reason (features that read as
    the same sentence, e.g. `mrr` and `mrr_change_pct_90d`); `feature` is the largest of them.
    """

    feature: str
    theme: str
    contribution: float
    sentence: str
    features: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "theme": self.theme, "contribution": round(self.contribution, 6),
                "sentence": self.sentence, "features": list(self.features or (self.feature,))}


@dataclass(frozen=True)
class Explanation:
    """One account's score and its reasons.

    Attributes:
        probability: calibrated churn probability.
        raw_score: booster log-odds; equals `base_value + sum(themes.values())`.
        themes: theme -> summed log-odds contribution of its features (every theme of the model present).
        drivers: top reasons raising risk, largest first.
        protective: top reasons lowering risk, largest (most negative) first.
    """

    account_id: str
    probability: float
    raw_score: float
    base_value: float
    themes: dict[str, float]
    drivers: tuple[Reason, ...]
    protective: tuple[Reason, ...]

    def grouped(self) -> dict[str, dict[str, list[Reason]]]:
        """Reasons by theme (themes in the registry's order, empty ones left out): {theme: {drivers, protective}}."""
        return {theme: {DRIVERS: d, PROTECTIVE: p} for theme, (d, p) in group_by_theme(self.drivers, self.protective)}


class _Themed(Protocol):
    theme: str


R = TypeVar("R", bound=_Themed)


def group_by_theme(drivers: Iterable[R], protective: Iterable[R]) -> list[tuple[str, tuple[list[R], list[R]]]]:
    """Reasons (anything with a `theme`) grouped by theme: [(theme, (drivers, protective))], in the catalog's theme
    order (unknown themes after, sorted), themes without a reason left out. Explanations and the API's response
    models both group with this."""
    d, p = list(drivers), list(protective)
    out = []
    for theme in [*THEMES, *sorted({r.theme for r in (*d, *p)} - set(THEMES))]:
        td = [r for r in d if r.theme == theme]
        tp = [r for r in p if r.theme == theme]
        if td or tp:
            out.append((theme, (td, tp)))
    return out


# --------------------------------------------------------------------------- explaining a frame


#: Features that describe one fact and read as one sentence: their contributions are summed into one reason,
#: phrased by the first member the model has (e.g. `events_30d` and `events_trend_30d`: "Product events
#: fell 46% ..."). Without this, one fact could appear as a risk driver and as a protective factor at once.
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("events_30d", "events_trend_30d"),
    ("active_users_30d", "active_users_trend_30d"),
    ("mrr", "mrr_change_pct_90d", "mrr_change_90d"),
    ("nps_latest", "nps_change", "nps_category", "nps_previous"),
)

#: Units that can phrase the very same sentence (e.g. no activity at all reads the same from either feature).
#: Equal sentences are merged into one reason; once an account has its top reasons, only units sharing a
#: group with them are still phrased, so each group must list every such unit (a test checks this on
#: simulated data, edge rows included).
SHARED_SENTENCES: tuple[tuple[str, ...], ...] = (
    ("active_days_90d", "days_since_last_event"),
    ("effort_mean_90d", "reopen_rate_90d"),  # both: "No tickets closed in the last 90 days"
)


@dataclass
class _Unit:
    """One reason unit: a feature, or a family of features phrased as one sentence."""

    spec: FeatureSpec
    members: tuple[str, ...]


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


def _plan(model: Any, specs: Mapping[str, FeatureSpec] | None) -> _Plan:
    names = list(model.feature_names_)
    cats = set(getattr(model, "categorical_features_", ()))
    by_name = {n: spec_for(n, specs, numeric=n not in cats) for n in names}
    family_of = {m: fam for fam in FAMILIES for m in fam}
    units: list[_Unit] = []
    seen: set[str] = set()
    for n in names:
        if n in seen:
            continue
        members = tuple(m for m in family_of.get(n, (n,)) if m in by_name)
        seen.update(members)
        units.append(_Unit(by_name[members[0]], members))
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
    return _Plan(names, units, themes, unit_matrix, theme_matrix, groups)


def _columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every column as a numpy array (categoricals as object arrays), for fast per-row access."""
    out: dict[str, np.ndarray] = {}
    for c in frame.columns:
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


def _group_sums(contrib: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Column sums per group, added column by column (unlike a matrix product, a row's result then does not
    depend on which other rows are in the batch: explanations are reproducible to the last bit)."""
    out = np.zeros((contrib.shape[0], groups.shape[1]))
    for j, k in zip(*np.nonzero(groups), strict=True):
        out[:, k] += contrib[:, j]
    return out


def _candidates(order: Any, contrib: np.ndarray, sign: int, plan: _Plan, row: _Row, top_n: int,
                min_contribution: float) -> dict[str, list[Any]]:
    """Sentence -> [unit index, contribution] for the strongest units of one sign, equal sentences summed.

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
        sentence = phrase(plan.units[k].spec, row)
        if sentence in found:
            found[sentence][1] += c
            found[sentence].append(k)
        elif not full:
            found[sentence] = [k, c]
            open_groups.add(plan.groups[k])
    return found


def _reasons(found: dict[str, list[Any]], sign: int, plan: _Plan, top_n: int,
             min_contribution: float) -> tuple[Reason, ...]:
    out = []
    for sentence, (k, c, *more) in found.items():
        if sign * c <= min_contribution:
            continue
        unit = plan.units[k]
        members = unit.members + tuple(m for j in more for m in plan.units[j].members)
        out.append(Reason(unit.spec.name, unit.spec.theme, float(c), sentence, members))
    out.sort(key=lambda r: -sign * r.contribution)
    return tuple(out[:top_n])


def _explain_row(order: np.ndarray, contrib: np.ndarray, plan: _Plan, row: _Row, top_n: int,
                 min_contribution: float) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    up = _candidates(order, contrib, 1, plan, row, top_n, min_contribution)
    down = _candidates(order[::-1], contrib, -1, plan, row, top_n, min_contribution)
    for sentence in up.keys() & down.keys():  # one fact pulling both ways: only its net effect counts
        k, c, *more = down.pop(sentence)
        up[sentence][1] += c
        up[sentence].extend([k, *more])
        if up[sentence][1] < 0:
            down[sentence] = up.pop(sentence)
    return (_reasons(up, 1, plan, top_n, min_contribution), _reasons(down, -1, plan, top_n, min_contribution))


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
        top_n: at most this many risk drivers and this many protective factors per account.
        min_contribution: reasons whose contribution is smaller than this (log-odds, absolute) are left out.
        specs: registry entries to phrase with (default: the registry; static attributes get generic ones).
        scores: `churnml.model.pyfunc.score_frame(model, frame, explain=True)` if already computed.

    Returns:
        One `Explanation` per row; deterministic for the same rows and model.
    """
    spec_map = {s.name: s for s in specs} if isinstance(specs, Sequence) else specs
    plan = plan_for(model, spec_map)
    if scores is None:  # straight from the model's arrays: no score frame to build and take apart
        raw, prob, shap = score_arrays(model, frame, explain=True)
        values = shap.to_numpy(dtype="float64")
        contrib = values[:, shap.columns.get_indexer(plan.names)]
        base = values[:, shap.columns.get_loc(MODEL_BASE_VALUE)]
    else:
        scored = scores
        contrib = scored[[f"{CONTRIB_PREFIX}{n}" for n in plan.names]].to_numpy(dtype="float64")
        base = scored[BASE_VALUE].to_numpy(dtype="float64")
        raw = scored[RAW_SCORE].to_numpy(dtype="float64")
        prob = scored[PROBABILITY].to_numpy(dtype="float64")
    ids = frame["account_id"].astype(str).to_numpy()
    return explain_arrays(plan, ids, np.asarray(prob, dtype="float64"), np.asarray(raw, dtype="float64"), base,
                          contrib, _columns(frame), top_n=top_n, min_contribution=min_contribution)


def plan_for(model: Any, specs: Mapping[str, FeatureSpec] | None = None) -> _Plan:
    """What explaining needs about `model`'s features (units, themes, shared-sentence groups); reusable."""
    return _plan(model, specs)


def explain_arrays(plan: _Plan, ids: Sequence[str], prob: np.ndarray, raw: np.ndarray, base: np.ndarray,
                   contrib: np.ndarray, cols: Mapping[str, np.ndarray], *, top_n: int = 3,
                   min_contribution: float = 0.01) -> list[Explanation]:
    """`explain_frame` from arrays: contributions (n, features in `plan.names` order), margins, probabilities,
    base values, and the rows' values by column (`cols`, for phrasing). Batch scoring and the API both end here.

    Rows where no shared-sentence group has two units above `min_contribution` cannot merge sentences, so
    their reasons are simply the strongest units of each sign (`_plain_reasons`); the others go through the
    merging search (`_explain_row`).
    """
    by_theme = _group_sums(contrib, plan.theme_matrix)
    by_unit = _group_sums(contrib, plan.unit_matrix)
    order = np.argsort(-by_unit, axis=1, kind="stable")
    plain = _plain_rows(by_unit, plan, min_contribution)
    themes = plan.themes
    out = []
    for i in range(len(ids)):
        row, values = by_unit[i], _Row(cols, i)
        if plain[i]:
            drivers = _plain_reasons(order[i], row, 1, plan, values, top_n, min_contribution)
            protective = _plain_reasons(order[i][::-1], row, -1, plan, values, top_n, min_contribution)
        else:
            drivers, protective = _explain_row(order[i], row, plan, values, top_n, min_contribution)
        out.append(Explanation(
            account_id=ids[i], probability=float(prob[i]), raw_score=float(raw[i]), base_value=float(base[i]),
            themes=dict(zip(themes, by_theme[i].tolist(), strict=True)), drivers=drivers, protective=protective,
        ))
    return out


def _plain_rows(by_unit: np.ndarray, plan: _Plan, min_contribution: float) -> np.ndarray:
    """Rows in which no two units of one shared-sentence group are above `min_contribution` (absolute)."""
    active = np.abs(by_unit) > min_contribution
    crowded = np.zeros(len(by_unit), dtype=bool)
    groups = np.asarray(plan.groups)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(members) > 1:
            crowded |= active[:, members].sum(axis=1) > 1
    return ~crowded


def _plain_reasons(order: np.ndarray, contrib: np.ndarray, sign: int, plan: _Plan, row: _Row, top_n: int,
                   min_contribution: float) -> tuple[Reason, ...]:
    """The strongest `top_n` units of one sign above `min_contribution`, one reason each (no sentence can repeat:
    see `_plain_rows`) — what `_explain_row` gives such a row."""
    out = []
    for k in order[:top_n]:
        c = float(contrib[k])
        if sign * c <= min_contribution:
            break
        unit = plan.units[k]
        out.append(Reason(unit.spec.name, unit.spec.theme, c, phrase(unit.spec, row), unit.members))
    return tuple(out)
