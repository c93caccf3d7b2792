"""The key signals stored with each scoring, as the account page shows them: trends and what moved. Pure.

`churnml.scoring.table.KEY_SIGNALS` are kept as JSON with every scoring (the store keeps no feature table), so
the page can name the signals behind a change ("Active users 18 → 11") whatever the change text says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from churnml.features.catalog import BY_NAME
from churnml.features.units import format_value
from churnml.scoring.table import KEY_SIGNALS
from serving.charts import sparkline_svg

#: Short names for the page's "what changed" line (the catalog's descriptions are sentences).
SHORT: dict[str, str] = {
    "active_users_30d": "Active users (30 days)", "events_30d": "Product events (30 days)",
    "seat_utilisation_30d": "Seats used", "tickets_open": "Open tickets", "effort_mean_90d": "Effort score",
    "nps_latest": "NPS", "csat_mean_90d": "CSAT", "mrr": "MRR", "days_to_renewal": "Days to renewal",
}
#: Signals that move by the calendar alone: never listed as a change.
CALENDAR = frozenset({"days_to_renewal"})


def shown(value: float | None, unit: str) -> str:
    """A signal's value in the page's words: "$1,200", "40%", "3 users", "not recorded" (`features.units`)."""
    return format_value(value, unit)


def _signals(row: Mapping[str, Any] | None) -> dict[str, float | None]:
    raw = row.get("signals") if row else None
    return json.loads(raw) if isinstance(raw, str) and raw else {}


def _unit(name: str) -> str:
    spec = BY_NAME.get(name)
    return spec.unit if spec else ""


def signal_trends(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The key signals of each scoring, oldest first, as sparklines with the catalog's description and the
    latest value; scorings from before signals were stored count as not recorded."""
    per_row = [_signals(r) for r in rows]
    out = []
    for name in KEY_SIGNALS:
        values = [p.get(name) for p in per_row]
        if all(v is None for v in values):
            continue
        spec = BY_NAME.get(name)
        out.append({
            "name": name, "label": spec.description if spec else name,
            "svg": sparkline_svg([float("nan") if v is None else float(v) for v in values], neutral=True),
            "latest": shown(values[-1], _unit(name)),
        })
    return out


def signal_changes(previous: Mapping[str, Any] | None, latest: Mapping[str, Any], limit: int = 4) -> list[str]:
    """The key signals that moved between two scorings, largest relative move first, e.g.
    "Active users (30 days) 18 → 11" (calendar-driven signals such as days to renewal left out)."""
    before, after = _signals(previous), _signals(latest)
    moved: list[tuple[float, str]] = []
    for name in KEY_SIGNALS:
        old, new = before.get(name), after.get(name)
        if name in CALENDAR or old is None or new is None or old == new:
            continue
        size = abs(new - old) / max(abs(old), abs(new), 1e-9)
        unit = _unit(name) if _unit(name) in ("USD", "%") else ""  # the short name says what is counted
        moved.append((size, f"{SHORT.get(name, name)} {shown(old, unit)} → {shown(new, unit)}"))
    return [text for _, text in sorted(moved, key=lambda m: -m[0])[:limit]]
