"""Sentences for reasons: one account's value of one feature, phrased from the feature catalog.

Sentences state facts only (never "healthy" or "worrying"), so a sentence cannot contradict the list it is in:
the sign of the contribution alone decides whether a reason is a risk driver or a protective factor. Where a
catalog entry names a reference feature, the sentence compares with it ("Active users fell 46% compared with
the previous 30 days (12 → 6.5)").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from churnml.features.catalog import BY_NAME, FeatureSpec, static_attribute_spec

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


