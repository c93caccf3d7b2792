"""Score-table rows (stored or just computed) as API response models. Pure."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from churnml.scoring.explain.attribution import group_by_theme, theme_totals
from serving.schemas import AccountRow, AccountScore, HistoryPoint, ModelRef, Reason, ThemePoints, ThemeReasons


def _opt(v: Any) -> Any:
    """None for NaN/NaT/None; plain Python values otherwise."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT:
        return None
    return v


def _date(v: Any) -> dt.date | None:
    v = _opt(v)
    if v is None:
        return None
    return pd.Timestamp(v).date()


def _json(v: Any, default: Any) -> Any:
    v = _opt(v)
    return json.loads(v) if isinstance(v, str) and v else default


def reasons_by_theme(drivers: Iterable[Reason], protective: Iterable[Reason]) -> list[ThemeReasons]:
    """Reasons grouped by theme, in the catalog's theme order (`churnml.scoring.explain.group_by_theme`)."""
    return [ThemeReasons(theme=theme, drivers=d, protective=p) for theme, (d, p) in group_by_theme(drivers, protective)]


def renewal_after(as_of: dt.date | None, days: float | None) -> dt.date | None:
    """The next renewal: `as_of` plus the days to renewal; None when either is missing or the date would fall
    outside the calendar (a posted account may carry any finite number of days)."""
    if days is None or as_of is None or days != days:
        return None
    try:
        return as_of + dt.timedelta(days=round(float(days)))
    except OverflowError:
        return None


def renewal_date(row: Mapping[str, Any]) -> dt.date | None:
    """The next renewal of a stored scoring: its as-of date plus the days to renewal kept with its key signals."""
    return renewal_after(_date(row.get("as_of")), _json(row.get("signals"), {}).get("days_to_renewal"))


def _summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an at-risk list row and a full account score share, from one score-table row."""
    mrr = _opt(row.get("mrr"))
    return {
        "account_id": str(row["account_id"]),
        "as_of": _date(row["as_of"]),
        "churn_probability": float(row["churn_probability"]),
        "risk_band": row["risk_band"],
        "mrr": _opt(row.get("mrr")),
        "mrr_at_risk": _opt(row.get("mrr_at_risk")),
        "change_points": _opt(row.get("change_points")),
        "segment": _opt(row.get("segment")),
        "csm_id": _opt(row.get("csm_id")),
        "account_name": _opt(row.get("account_name")),
        "csm_name": _opt(row.get("csm_name")),
        "arr": None if mrr is None else 12 * float(mrr),
        "renewal_date": renewal_date(row),
    }


def is_context(reason: Mapping[str, Any]) -> bool:
    """Whether the explanation marks a reason as context (a fact the risk is read against, not a cause)."""
    return bool(reason.get("context")) or reason.get("kind") == "context" or reason.get("role") == "context"


def split_context(row: Mapping[str, Any]) -> tuple[list[Reason], list[Reason], list[Reason]]:
    """(drivers, protective, context) of a score-table row: the context facts batch scoring stores apart (the
    `context_facts` column, `churnml.scoring.table`), and any reason marked as context, go to context, never
    among the drivers."""
    drivers = _json(row.get("risk_drivers"), [])
    protective = _json(row.get("protective_factors"), [])
    context = [c for c in _json(row.get("context_facts"), []) if isinstance(c, dict)]
    context += [r for r in [*drivers, *protective] if is_context(r)]
    return ([Reason(**r) for r in drivers if not is_context(r)],
            [Reason(**r) for r in protective if not is_context(r)],
            [Reason(**_fact(c)) for c in context])


def _fact(c: Mapping[str, Any]) -> dict[str, Any]:
    """A context entry as a `Reason` (the explanation may give a fact without a contribution or theme)."""
    return {"feature": c.get("feature", ""), "theme": c.get("theme", "context"),
            "contribution": float(c.get("contribution") or 0.0), **c, "sentence": str(c.get("sentence", ""))}


def theme_points(points: Mapping[str, float] | None, drivers: Iterable[Any],
                 protective: Iterable[Any]) -> list[ThemePoints]:
    """Per theme, its probability points split into the listed reasons and the rest ("other factors"), by
    `churnml.scoring.explain.theme_totals`; empty without stored theme points or when a listed reason has none
    (scores stored before points were: a split would not add up). Reasons: anything with `theme` and `points`."""
    d, p = list(drivers), list(protective)
    if not points or any(r.points is None for r in (*d, *p)):
        return []
    return [ThemePoints(theme=t.theme, points=t.points, reasons=t.points - t.other, other_factors=t.other)
            for t in theme_totals(points, d, p)]


def theme_view(score: AccountScore) -> dict[str, Any]:
    """What the page shows of the theme points: `theme_points` (theme -> `ThemePoints`; empty for scores stored
    before points were) and `other_themes`, the points of the themes none of whose reasons is listed."""
    listed = {g.theme for g in score.reasons_by_theme}
    by_theme = {t.theme: t for t in score.theme_points}
    rest = [t.points for t in score.theme_points if t.theme not in listed]
    return {"theme_points": by_theme, "other_themes": sum(rest) if rest else None}


def account_score(row: Mapping[str, Any]) -> AccountScore:
    """One score-table row as an `AccountScore`."""
    drivers, protective, context = split_context(row)
    return AccountScore(
        **_summary(row),
        previous_as_of=_date(row.get("previous_as_of")),
        previous_probability=_opt(row.get("previous_probability")),
        change_text=_opt(row.get("change_text")),
        change_by_theme=_json(row.get("change_by_theme"), None),
        risk_drivers=drivers,
        protective_factors=protective,
        reasons_by_theme=reasons_by_theme(drivers, protective),
        context=context,
        theme_points=theme_points(_json(row.get("theme_points"), None), drivers, protective),
        theme_contributions=_json(row["theme_contributions"], {}),
        raw_score=float(row["raw_score"]),
        base_value=float(row["base_value"]),
        model=ModelRef(name=str(row["model_name"]), version=str(row["model_version"])),
        scored_at=_utc(row.get("scored_at")),
    )


def _utc(v: Any) -> dt.datetime | None:
    """A stored timestamp (naive UTC in the score store) as an aware UTC datetime, so JSON carries its offset."""
    v = _opt(v)
    if v is None:
        return None
    ts = pd.Timestamp(v)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def history_point(row: Mapping[str, Any]) -> HistoryPoint:
    return HistoryPoint(
        as_of=_date(row["as_of"]),
        churn_probability=float(row["churn_probability"]),
        risk_band=row["risk_band"],
        change_points=_opt(row.get("change_points")),
        model_version=str(row["model_version"]),
        theme_contributions=_json(row["theme_contributions"], {}),
        theme_points=_json(row.get("theme_points"), None) or None,
    )


def theme_trends(history: Sequence[HistoryPoint], themes: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
    """Each theme's pull on the risk at every scoring, and its unit: probability points when every scoring
    stored them (what a CSM reads elsewhere on the page), else log-odds (scores stored before points were)."""
    in_points = bool(history) and all(h.theme_points is not None for h in history)
    unit = "points" if in_points else "log-odds"
    trends = [{"theme": t, "values": [(h.theme_points or {}).get(t, 0.0) if in_points
                                      else h.theme_contributions.get(t, 0.0) for h in history]}
              for t in themes if any(t in h.theme_contributions for h in history)]
    return trends, unit


def account_row(row: Mapping[str, Any]) -> AccountRow:
    """One row of the at-risk list: the largest risk driver that is not context is its top reason."""
    drivers = [r for r in _json(row.get("risk_drivers"), []) if not is_context(r)]
    return AccountRow(
        **_summary(row),
        change_text=_opt(row.get("change_text")),
        top_reason=drivers[0]["sentence"] if drivers else None,
    )
