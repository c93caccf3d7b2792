"""Reasons a CSM can act on: SHAP contributions turned into sentences, grouped by theme, and why a score moved.

Contributions are LightGBM's exact TreeSHAP (`pred_contrib`, through `churnml.pyfunc.score_frame`), in
log-odds; per row, base value + contributions == raw score. `shap.TreeExplainer` gives the same numbers on a
LightGBM booster (it calls `pred_contrib` itself; tests check both it and shap's own tree algorithm) but adds
overhead, so we call the booster directly.

Each contribution becomes a sentence built from the feature registry and the account's own values, with the
registry's reference feature as the comparison point ("Active users fell 46% compared with the previous 30
days (12 → 6.5)"). Sentences state facts only — never "healthy" or "worrying" — so a sentence cannot
contradict the list it is in: the sign of the contribution alone decides whether a reason is a risk driver
(raises risk) or a protective factor (lowers it).

Why a score moved (`score_change`): the change in calibrated probability between two scorings is split by
theme in proportion to each theme's change in log-odds contributions (see `score_change` for the method).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.features.registry import BY_NAME, FeatureSpec, static_attribute_spec
from churnml.model import BASE_VALUE as MODEL_BASE_VALUE
from churnml.pyfunc import BASE_VALUE, CONTRIB_PREFIX, PROBABILITY, RAW_SCORE, score_arrays

THEMES: tuple[str, ...] = ("usage", "support", "sentiment", "commercial", "team", "account")
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
        out: dict[str, dict[str, list[Reason]]] = {}
        for theme in [*THEMES, *sorted({r.theme for r in (*self.drivers, *self.protective)} - set(THEMES))]:
            d = [r for r in self.drivers if r.theme == theme]
            p = [r for r in self.protective if r.theme == theme]
            if d or p:
                out[theme] = {DRIVERS: d, PROTECTIVE: p}
        return out


# --------------------------------------------------------------------------- formatting


def _num(x: float) -> str:
    """12 / 6.5 / 0.25 / 1,234 — no trailing zeros, thousands separated."""
    if not math.isfinite(x):
        return "unknown"
    if abs(x - round(x)) < 1e-9:
        return f"{round(float(x)):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    text = f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".")


def _count(n: float, word: str, plural: str | None = None) -> str:
    return f"{_num(n)} {word if abs(n - 1) < 1e-9 else (plural or word + 's')}"


def _usd(x: float) -> str:
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.0f}" if abs(x) >= 100 or abs(x - round(x)) < 1e-9 else f"{sign}${abs(x):,.2f}"


def _pct(fraction: float) -> str:
    return f"{_num(round(fraction * 100, 1 if abs(fraction) < 0.1 else 0))}%"


def _moved(value: float, ref: float, up: str = "rose", down: str = "fell") -> str:
    """'fell 46%' / 'rose 20%' / 'unchanged' relative to `ref` (> 0)."""
    change = (value - ref) / ref
    if abs(change) < 0.005:
        return "unchanged"
    return f"{up if change > 0 else down} {_pct(abs(change))}"


def _duration(days: float) -> str:
    if days >= 730:
        return f"{_num(round(days / 365.25, 1))} years"
    if days >= 60:
        return f"{_num(round(days / 30.44))} months"
    return _count(days, "day")


class _Row:
    """Read access to one account's values: numbers as float (None when missing), categories as str."""

    __slots__ = ("_cols", "_i")

    def __init__(self, cols: Mapping[str, np.ndarray], i: int) -> None:
        self._cols = cols
        self._i = i

    def __call__(self, name: str | None) -> Any:
        if name is None or name not in self._cols:
            return None
        v = self._cols[name][self._i]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, np.floating | float | int | np.integer):
            return float(v)
        return str(v)


Template = Callable[[Any, _Row], str]


def _change_sentence(label: str, value: float | None, ref: float | None, unit: Callable[[float], str],
                     period: str = "compared with the previous 30 days") -> str | None:
    """'<Label> fell 46% <period> (12 → 6.5)', or None when there is no usable reference."""
    if value is None or ref is None:
        return None
    if ref == 0:
        if value == 0:
            return None
        return f"{label}: {unit(value)} in the last 30 days, none in the 30 days before"
    moved = _moved(value, ref)
    if moved == "unchanged":
        return f"{label} unchanged {period} ({unit(ref)} → {unit(value)})"
    return f"{label} {moved} {period} ({unit(ref)} → {unit(value)})"


def _events(window: int) -> Template:
    def t(v: Any, r: _Row) -> str:
        if v is None:
            return f"Product events in the last {window} days not recorded"
        return f"No product events in the last {window} days" if v == 0 else \
            f"{_count(v, 'product event')} in the last {window} days"
    return t


def _events_30d(v: Any, r: _Row) -> str:
    return _change_sentence("Product events", v, r("events_prev_30d"), _num) or _events(30)(v, r)


def _events_trend(v: Any, r: _Row) -> str:
    now, before = r("events_30d"), r("events_prev_30d")
    if v is None:
        return "No product events in the 30 days before the last 30, so no usage trend"
    if now is not None and before:
        return _change_sentence("Product events", now, before, _num) or ""
    return f"Product events in the last 30 days at {_pct(v)} of the 30 days before"


def _active_days(window: int) -> Template:
    def t(v: Any, r: _Row) -> str:
        if not v:
            return f"No product activity in the last {window} days"
        return f"Active on {_num(v)} of the last {window} days"
    return t


def _days_since_event(v: Any, r: _Row) -> str:
    if v is None:
        return "No product activity in the last 90 days"
    if v >= 7:
        return f"No product activity for {_count(v, 'day')}"
    return "Product activity in the last day" if v < 1 else f"Last product activity {_count(v, 'day')} ago"


def _users(window: int) -> Template:
    def t(v: Any, r: _Row) -> str:
        return f"No active users in the last {window} days" if not v else \
            f"{_count(v, 'active user')} in the last {window} days"
    return t


def _users_30d(v: Any, r: _Row) -> str:
    return _change_sentence("Active users", v, r("active_users_prev_30d"), _num) or _users(30)(v, r)


def _users_trend(v: Any, r: _Row) -> str:
    now, before = r("active_users_30d"), r("active_users_prev_30d")
    if v is None:
        return "No active users in the 30 days before the last 30, so no user trend"
    if now is not None and before:
        return _change_sentence("Active users", now, before, _num) or ""
    return f"Active users in the last 30 days at {_pct(v)} of the 30 days before"


def _seat_use(v: Any, r: _Row) -> str:
    if v is None:
        return "No paid seats to compare usage with"
    users, seats = r("active_users_30d"), r("seats")
    detail = f" ({_num(users)} of {_count(seats, 'seat')})" if users is not None and seats else ""
    return f"{_pct(v)} of paid seats used in the last 30 days{detail}"


def _types_30d(v: Any, r: _Row) -> str:
    if not v:
        return "No product features used in the last 30 days"
    ref = r("event_types_90d")
    detail = f" ({_num(ref)} in the last 90)" if ref is not None and ref != v else ""
    return f"{_count(v, 'product feature')} used in the last 30 days{detail}"


def _tickets(what: str, window: str) -> Template:
    def t(v: Any, r: _Row) -> str:
        if not v:
            return f"No {what}s {window}"
        return f"{_count(v, what)} {window}"
    return t


def _share(what: str, none: str) -> Template:
    def t(v: Any, r: _Row) -> str:
        return none if v is None else f"{_pct(v)} of {what}"
    return t


def _effort(v: Any, r: _Row) -> str:
    return "No tickets closed in the last 90 days" if v is None else \
        f"Average customer effort on tickets {_num(round(v, 1))} of 7 (last 90 days)"


def _resolution(v: Any, r: _Row) -> str:
    return "No tickets resolved in the last 90 days" if v is None else \
        f"Tickets took {_count(round(v), 'hour')} on average to resolve (last 90 days)"


_NO_NPS = "No NPS survey answered in the last year"


def _nps_cat(score: float) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def _nps_latest(v: Any, r: _Row) -> str:
    if v is None:
        return _NO_NPS
    cat = r("nps_category") or _nps_cat(v)
    text = f"Latest NPS {_num(v)} ({cat})"
    prev = r("nps_previous")
    if prev is None:
        return text
    if prev == v:
        return f"{text}, unchanged from {_num(prev)}"
    return f"{text}, {'down' if v < prev else 'up'} from {_num(prev)}"


def _nps_previous(v: Any, r: _Row) -> str:
    if v is None:
        return "No earlier NPS answer to compare with" if r("nps_latest") is not None else _NO_NPS
    return f"Previous NPS answer {_num(v)} ({_nps_cat(v)})"


def _nps_change(v: Any, r: _Row) -> str:
    if v is None:
        return "Only one NPS answer, so no change to compare" if r("nps_latest") is not None else _NO_NPS
    latest, prev = r("nps_latest"), r("nps_previous")
    detail = f" ({_num(prev)} → {_num(latest)})" if latest is not None and prev is not None else ""
    if v == 0:
        return f"NPS unchanged since the previous answer{detail}"
    return f"NPS {'down' if v < 0 else 'up'} {_count(abs(v), 'point')}{detail}"


def _nps_category(v: Any, r: _Row) -> str:
    return _NO_NPS if v is None else f"Latest NPS category: {v}"


def _survey_mean(name: str, scale: str, window: str = "in the last 90 days") -> Template:
    def t(v: Any, r: _Row) -> str:
        return f"No {name} survey answered {window}" if v is None else \
            f"Average {name} {_num(round(v, 1))} of {scale} {window}"
    return t


def _responses(v: Any, r: _Row) -> str:
    return "No survey answered in the last 180 days" if not v else \
        f"{_count(v, 'survey answer')} in the last 180 days"


def _days_since_survey(v: Any, r: _Row) -> str:
    return "No survey answered in the last year" if v is None else \
        f"Last survey answered {_count(v, 'day')} ago"


def _mrr(v: Any, r: _Row) -> str:
    if v is None:
        return "No MRR recorded"
    before = r("mrr_90d_ago")
    if before is None:
        return f"MRR {_usd(v)} (no subscription 90 days ago)"
    if before == 0:
        return f"MRR {_usd(v)}, up from $0 90 days ago"
    moved = _moved(v, before, "up", "down")
    return f"MRR {moved} over 90 days ({_usd(before)} → {_usd(v)})"


def _mrr_change(v: Any, r: _Row) -> str:
    if v is None:
        return "No subscription 90 days ago to compare MRR with"
    now = r("mrr")
    return _mrr(now, r) if now is not None else f"MRR changed by {_usd(v)} over 90 days"


def _mrr_before(v: Any, r: _Row) -> str:
    return "No subscription 90 days ago" if v is None else f"MRR 90 days ago {_usd(v)}"


def _renewal(v: Any, r: _Row) -> str:
    if v is None:
        return "No renewal date on record"
    if v < 1:
        return "Renewal due today"
    return f"Renewal in {_count(v, 'day')}"


def _enps(v: Any, r: _Row) -> str:
    return "No eNPS answer from the CS team in the last 90 days" if v is None else \
        f"CS team eNPS {_num(round(v))} over the last 90 days (-100 to 100)"


def _label(label: str, missing: str | None = None) -> Template:
    def t(v: Any, r: _Row) -> str:
        if v is None:
            return missing or f"{label}: not recorded"
        return f"{label}: {v if isinstance(v, str) else _num(v)}"
    return t


TEMPLATES: dict[str, Template] = {
    "events_7d": _events(7),
    "events_30d": _events_30d,
    "events_90d": _events(90),
    "events_prev_30d": lambda v, r: "No product events in the 30 days before the last 30" if not v else
    f"{_count(v, 'product event')} in the 30 days before the last 30",
    "events_trend_30d": _events_trend,
    **{f"active_days_{w}d": _active_days(w) for w in (7, 30, 90)},
    "days_since_last_event": _days_since_event,
    "active_users_7d": _users(7),
    "active_users_30d": _users_30d,
    "active_users_prev_30d": lambda v, r: "No active users in the 30 days before the last 30" if not v else
    f"{_count(v, 'active user')} in the 30 days before the last 30",
    "active_users_trend_30d": _users_trend,
    "seat_utilisation_30d": _seat_use,
    "event_types_30d": _types_30d,
    "event_types_90d": lambda v, r: "No product features used in the last 90 days" if not v else
    f"{_count(v, 'product feature')} used in the last 90 days",
    "tickets_30d": _tickets("support ticket", "opened in the last 30 days"),
    "tickets_90d": _tickets("support ticket", "opened in the last 90 days"),
    "tickets_open": _tickets("support ticket", "open now"),
    "tickets_open_high_14d": _tickets("high-priority ticket", "open for over 14 days"),
    "high_priority_share_90d": _share("tickets in the last 90 days were high priority",
                                      "No support tickets in the last 90 days"),
    "effort_mean_90d": _effort,
    "resolution_hours_90d": _resolution,
    "reopen_rate_90d": _share("tickets closed in the last 90 days were reopened",
                              "No tickets closed in the last 90 days"),
    "nps_latest": _nps_latest,
    "nps_previous": _nps_previous,
    "nps_change": _nps_change,
    "nps_category": _nps_category,
    "csat_mean_90d": _survey_mean("CSAT", "5"),
    "ces_mean_90d": _survey_mean("Customer Effort Score", "7"),
    "survey_responses_180d": _responses,
    "days_since_last_survey": _days_since_survey,
    "mrr": _mrr,
    "mrr_90d_ago": _mrr_before,
    "mrr_change_90d": _mrr_change,
    "mrr_change_pct_90d": _mrr_change,
    "seats": lambda v, r: "No paid seats" if not v else _count(v, "paid seat"),
    "plan": _label("Plan", "No plan on record"),
    "contract_type": _label("Contract type", "Contract type unknown"),
    "tenure_days": lambda v, r: "No subscription start on record" if v is None else f"Customer for {_duration(v)}",
    "days_to_renewal": _renewal,
    "csm_enps_90d": _enps,
    "account_age_days": lambda v, r: "Account creation date unknown" if v is None else
    f"Account created {_duration(v)} ago",
    "segment": _label("Segment"),
    "industry": _label("Industry"),
    "region": _label("Region"),
}

_ATTRIBUTE = "Account attribute: "


def attribute_label(column: str) -> str:
    """A column name as words: 'TotalCharges' / 'total_charges' -> 'Total charges'; acronyms kept ('NPS')."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", column).replace("_", " ")
    words = [w if len(w) > 1 and w.isupper() else w.lower() for w in spaced.split()]
    if not words:
        return column
    return words[0][:1].upper() + words[0][1:] + "".join(f" {w}" for w in words[1:])


def generic_sentence(spec: FeatureSpec, value: Any) -> str:
    """Fallback: '<description>: <value> <unit>', or '<description>: not recorded' when missing."""
    label = spec.description
    if label.startswith(_ATTRIBUTE):
        label = attribute_label(label[len(_ATTRIBUTE):])
    if value is None:
        return f"{label}: not recorded"
    if isinstance(value, str):
        return f"{label}: {value}"
    if spec.unit == "USD":
        shown = _usd(value)
    elif spec.unit == "%":
        shown = _pct(value)
    elif spec.unit == "ratio":
        shown = f"{_num(round(value, 2))}×"
    else:
        shown = f"{_num(value)} {spec.unit}".rstrip()
    return f"{label}: {shown}"


def spec_for(name: str, specs: Mapping[str, FeatureSpec] | None = None, numeric: bool = True) -> FeatureSpec:
    """Registry entry for `name`: the given specs, else the registry, else a static-attribute entry."""
    if specs and name in specs:
        return specs[name]
    return BY_NAME.get(name) or static_attribute_spec(name, numeric)


def phrase(spec: FeatureSpec, row: _Row) -> str:
    """The sentence for one feature of one account (template if there is one, else the generic one)."""
    value = row(spec.name)
    template = TEMPLATES.get(spec.name)
    sentence = template(value, row) if template else ""
    return sentence or generic_sentence(spec, value)


def sentence_for(feature: str, values: Mapping[str, Any], specs: Mapping[str, FeatureSpec] | None = None) -> str:
    """The sentence for `feature` given one account's values by name (missing values: None or NaN)."""
    cols = {k: np.array([v], dtype=object) for k, v in values.items()}
    value = values.get(feature)
    return phrase(spec_for(feature, specs, numeric=not isinstance(value, str)), _Row(cols, 0))


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
        scores: `churnml.pyfunc.score_frame(model, frame, explain=True)` if already computed.

    Returns:
        One `Explanation` per row; deterministic for the same rows and model.
    """
    spec_map = {s.name: s for s in specs} if isinstance(specs, Sequence) else specs
    plan = _plan(model, spec_map)
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
    by_theme = _group_sums(contrib, plan.theme_matrix)
    by_unit = _group_sums(contrib, plan.unit_matrix)
    order = np.argsort(-by_unit, axis=1, kind="stable")
    cols = _columns(frame)
    ids = frame["account_id"].astype(str).to_numpy()
    out = []
    for i in range(len(frame)):
        drivers, protective = _explain_row(order[i], by_unit[i], plan, _Row(cols, i), top_n, min_contribution)
        out.append(
            Explanation(
                account_id=ids[i],
                probability=float(prob[i]),
                raw_score=float(raw[i]),
                base_value=float(base[i]),
                themes={t: float(v) for t, v in zip(plan.themes, by_theme[i], strict=True)},
                drivers=drivers,
                protective=protective,
            )
        )
    return out


# --------------------------------------------------------------------------- why the score moved


@dataclass(frozen=True)
class ScoreChange:
    """The change in churn probability between two scorings, in probability points, split by theme.

    `parts` sums to `points` (exactly, up to float rounding). With a different model, a `model` part holds
    what the change of base value (and, when no feature moved, of calibrator) accounts for.
    """

    points: float
    parts: dict[str, float]
    model_changed: bool = False
    previous_model: str | None = None
    current_model: str | None = None

    def text(self, min_points: float = 0.5) -> str:
        """'risk up 18 points: usage +12, support +5, sentiment +1' (parts under `min_points` left out)."""
        digits = 0 if abs(self.points) >= 5 else 1
        size = _num(round(abs(self.points), digits))
        if round(abs(self.points), digits) == 0:
            head = "risk unchanged"
        else:
            head = f"risk {'up' if self.points > 0 else 'down'} {size} point{'' if size == '1' else 's'}"
        shown = sorted(((k, v) for k, v in self.parts.items() if abs(v) >= min_points), key=lambda kv: -abs(kv[1]))
        parts = ", ".join(
            f"{'new model' if k == MODEL_PART else k} {'+' if v > 0 else '-'}{_num(round(abs(v), digits))}"
            for k, v in shown
        )
        text = f"{head}: {parts}" if parts and head != "risk unchanged" else head
        if self.model_changed:
            text += f" (model changed: {self.previous_model or '?'} → {self.current_model or '?'})"
        return text


def score_change(
    previous_probability: float,
    previous_themes: Mapping[str, float],
    previous_base: float,
    current_probability: float,
    current_themes: Mapping[str, float],
    current_base: float,
    *,
    previous_model: str | None = None,
    current_model: str | None = None,
) -> ScoreChange:
    """Split the change in calibrated probability between two scorings by theme.

    Method (proportional, exact additivity): contributions are log-odds and the calibrated probability is a
    monotone function of the raw score, so the probability change Δp is spread over the log-odds changes
    d_t = current_t − previous_t of each theme (plus the base value's change, the `model` part) in proportion:
    part_t = Δp × d_t / Δraw, with Δraw = Σ d_t + Δbase = raw₁ − raw₀. Δp / Δraw is the secant slope of the
    calibration curve between the two scores, so a theme's part is its log-odds change at the average
    exchange rate between the two points, and the parts add up to Δp. Themes can move in opposite directions
    (usage +12, support −3). When the raw score did not move but the probability did (only possible when the
    model — its calibrator — changed), the whole change is the model's.

    Probabilities are in [0, 1]; the result is in points (× 100).
    """
    dp = (current_probability - previous_probability) * 100.0
    themes = [t for t in THEMES if t in current_themes or t in previous_themes]
    themes += sorted((set(current_themes) | set(previous_themes)) - set(themes))
    deltas = {t: float(current_themes.get(t, 0.0)) - float(previous_themes.get(t, 0.0)) for t in themes}
    d_base = float(current_base) - float(previous_base)
    changed = previous_model != current_model
    if changed or abs(d_base) > 1e-12:
        deltas[MODEL_PART] = d_base
    d_raw = sum(deltas.values())
    if abs(d_raw) < 1e-12:
        parts = {t: 0.0 for t in deltas}
        if dp != 0.0:
            parts[MODEL_PART] = dp
    else:
        slope = dp / d_raw
        parts = {t: d * slope for t, d in deltas.items()}
    return ScoreChange(dp, parts, changed, previous_model, current_model)
