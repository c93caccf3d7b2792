"""Which alerts a week raises, and how they combine with the alerts already open: pure functions on frames.

Causes (`alert_causes`): the account entered a higher risk band than at its previous scoring (`band_up`), its
risk rose more than `plays.risk_move_points` (`risk_jump`), or a configured signal broke (`plays.signals`, on the
score's key signals, e.g. NPS ≤ 6; with `when`, only while further signals hold, e.g. a term of 12+ months).
Each cause carries what changed (`detail`) and the score's top reasons.

Deduplication (`plan_week`): one alert per (account, cause) while it is active: an open alert seen again stays
open (its last-seen date moves); a cause that no longer holds closes its alert ("cleared"); a resolved alert
(the play was done) keeps suppressing the same cause until the cause clears, so a done play is not asked for
again every week. New alerts of an account that already has an active alert inherit its holdout flag (an
account is routed or held out as a whole); new accounts are drawn by `holdout.assign_holdout`, per band.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnml.config import PlaysConfig, SignalCondition
from churnml.plays.holdout import assign_holdout, week_rng
from churnml.plays.playbook import play_for

BAND_RANK = {"low": 0, "medium": 1, "high": 2}
#: A signal rule's comparison (`SignalRule.op`), as alerts and the uplift learners' effect modifiers read it.
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
CAUSE_COLUMNS = ["account_id", "as_of", "cause", "detail", "risk_band", "churn_probability", "mrr", "reasons"]
ALERT_COLUMNS = [
    "alert_id", "account_id", "cause", "play", "play_text", "status", "held_out", "opened_as_of",
    "last_seen_as_of", "closed_as_of", "risk_band", "churn_probability", "mrr", "detail", "reasons",
]


def _reasons(drivers: Any, n: int = 3) -> str:
    if not isinstance(drivers, str) or not drivers:
        return ""
    return "; ".join(str(r.get("sentence", r.get("feature", ""))) for r in json.loads(drivers)[:n])


def _fmt(v: float) -> str:
    return f"{v:.0%}" if 0 < abs(v) < 1 else f"{v:g}"


def _holds(condition: SignalCondition, signals: dict[str, Any]) -> bool:
    """`signal op value` on one score's key signals (a rule is one too); False where the signal is not recorded."""
    value = signals.get(condition.signal)
    return value is not None and OPS[condition.op](float(value), condition.value)


def alert_causes(scores: pd.DataFrame, previous_band: dict[str, str], cfg: PlaysConfig) -> pd.DataFrame:
    """Every (account, cause) the scoring raises, with what changed and the top reasons (`CAUSE_COLUMNS`).

    Args:
        scores: one as-of date's rows of the score store.
        previous_band: each account's risk band at its previous scoring (accounts new to scoring: absent).
        cfg: the `plays:` settings.
    """
    rows: list[dict[str, Any]] = []
    for r in scores.to_dict("records"):
        aid, band = str(r["account_id"]), str(r["risk_band"])
        base = {"account_id": aid, "as_of": pd.Timestamp(r["as_of"]).date(), "risk_band": band,
                "churn_probability": float(r["churn_probability"]), "mrr": r.get("mrr"),
                "reasons": _reasons(r.get("risk_drivers"))}
        before = previous_band.get(aid)
        if before is not None and BAND_RANK.get(band, 0) > BAND_RANK.get(before, 0):
            rows.append({**base, "cause": "band_up", "detail": f"risk band {before} → {band}"})
        points = r.get("change_points")
        if points is not None and not pd.isna(points) and float(points) > cfg.risk_move_points:
            text = r.get("change_text") or f"risk up {float(points):.0f} points"
            rows.append({**base, "cause": "risk_jump", "detail": str(text)})
        signals = json.loads(r["signals"]) if isinstance(r.get("signals"), str) else {}
        for rule in cfg.signals:
            if rule.bands is not None and band not in rule.bands:
                continue
            if _holds(rule, signals) and all(_holds(c, signals) for c in rule.when):
                detail = f"{rule.signal} {_fmt(float(signals[rule.signal]))} ({rule.op} {_fmt(rule.value)})"
                rows.append({**base, "cause": rule.cause, "detail": detail})
    return pd.DataFrame(rows, columns=CAUSE_COLUMNS)


@dataclass(frozen=True)
class WeekPlan:
    """What one week does to the alert store: alerts to insert, active ones seen again, active ones closed."""

    new: pd.DataFrame
    seen: list[str]
    cleared: list[str]


def alert_id(account_id: str, cause: str, as_of: dt.date) -> str:
    """Stable id of the alert opened for (account, cause) on `as_of`."""
    return f"{account_id}:{cause}:{as_of.isoformat()}"


def plan_week(active: pd.DataFrame, causes: pd.DataFrame, as_of: dt.date, cfg: PlaysConfig) -> WeekPlan:
    """Combine this week's causes with the active alerts (open or resolved, not yet closed); see module doc."""
    now = {(a, c) for a, c in zip(causes["account_id"].astype(str), causes["cause"], strict=True)}
    have = {(str(a), c): i for a, c, i in zip(active["account_id"], active["cause"], active["alert_id"],
                                               strict=True)}
    seen = [i for key, i in have.items() if key in now]
    cleared = [i for key, i in have.items() if key not in now]
    is_new = [(str(a), c) not in have for a, c in zip(causes["account_id"], causes["cause"], strict=True)]
    fresh = causes[pd.Series(is_new, index=causes.index, dtype=bool)]
    fresh = fresh.drop_duplicates(["account_id", "cause"])
    inherited = {str(a): bool(h) for a, h in zip(active["account_id"], active["held_out"], strict=True)}
    draw = fresh[~fresh["account_id"].astype(str).isin(inherited)].drop_duplicates("account_id")
    drawn = assign_holdout(draw[["account_id", "risk_band"]], cfg.holdout, week_rng(cfg.seed, as_of))
    held = {**dict(zip(draw["account_id"].astype(str), drawn, strict=True)), **inherited}
    new = fresh.assign(
        alert_id=[alert_id(str(a), c, as_of) for a, c in zip(fresh["account_id"], fresh["cause"], strict=True)],
        play=[play_for(c, cfg).play for c in fresh["cause"]],
        play_text=[play_for(c, cfg).text for c in fresh["cause"]],
        status="open",
        held_out=[held[str(a)] for a in fresh["account_id"]],
        opened_as_of=as_of, last_seen_as_of=as_of, closed_as_of=None,
    )
    return WeekPlan(new=new[ALERT_COLUMNS].reset_index(drop=True), seen=seen, cleared=cleared)


def routed(alerts: pd.DataFrame) -> pd.DataFrame:
    """The open alerts CSMs should see (held-out ones are recorded, never shown)."""
    return alerts[(alerts["status"] == "open") & ~alerts["held_out"].astype(bool)]


__all__ = ["ALERT_COLUMNS", "CAUSE_COLUMNS", "WeekPlan", "alert_causes", "alert_id", "plan_week", "routed"]
