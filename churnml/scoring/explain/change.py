"""Why a score moved: the change in calibrated probability between two scorings, the signals that moved
("active users 18 → 11, NPS 8 → 3") and the split by theme."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from churnml.features.catalog import FeatureSpec
from churnml.features.units import format_value
from churnml.features.units import number as _num
from churnml.scoring.explain.attribution import MODEL_PART, THEMES, is_context
from churnml.scoring.explain.sentences import label, spec_for

#: Short words for the signals stored with every scoring (`churnml.scoring.table.KEY_SIGNALS`); any other
#: signal is called by its catalog description.
SIGNAL_LABELS: dict[str, str] = {
    "active_users_30d": "active users", "events_30d": "product events", "seat_utilisation_30d": "seats used",
    "tickets_open": "open tickets", "effort_mean_90d": "ticket effort", "nps_latest": "NPS", "csat_mean_90d": "CSAT",
    "mrr": "MRR",
}


@dataclass(frozen=True)
class SignalMove:
    """One signal's value at the previous and at this scoring (None: not recorded), and both as shown."""

    name: str
    label: str
    before: float | None
    after: float | None
    unit: str = ""
    theme: str = ""
    shown: tuple[str, str] = ("", "")

    def text(self) -> str:
        """'active users 18 → 11' / 'MRR $500 → $300'."""
        return f"{self.label} {self.shown[0]} → {self.shown[1]}"


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
    #: The signals that moved with the change (their theme pushed the same way), most telling first.
    signals: tuple[SignalMove, ...] = ()

    def text(self, min_points: float = 0.5) -> str:
        """'risk up 14 points: active users 18 → 11, NPS 8 → 3 (usage +10, sentiment +4)'; without moved
        signals 'risk up 18 points: usage +12, support +5, sentiment +1' (parts under `min_points` left out,
        and the signals of those themes)."""
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
        moved = ", ".join(m.text() for m in self.signals if abs(self.parts.get(m.theme, 0.0)) >= min_points)
        if head == "risk unchanged" or not (parts or moved):
            text = head
        elif moved:
            text = f"{head}: {moved}" + (f" ({parts})" if parts else "")
        else:
            text = f"{head}: {parts}"
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
    previous_signals: Mapping[str, Any] | None = None,
    current_signals: Mapping[str, Any] | None = None,
    specs: Mapping[str, FeatureSpec] | None = None,
    max_signals: int = 3,
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

    Probabilities are in [0, 1]; the result is in points (× 100). With both scorings' signal values
    (`previous_signals` / `current_signals`, {feature: value}), the change names the signals that moved
    (`moved_signals`).
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
    moved = moved_signals(previous_signals or {}, current_signals or {}, parts, dp, specs, max_signals)
    return ScoreChange(dp, parts, changed, previous_model, current_model, moved)


def _value(v: Any) -> float | None:
    if v is None or isinstance(v, str):
        return None
    x = float(v)
    return None if math.isnan(x) else x


def moved_signals(previous: Mapping[str, Any], current: Mapping[str, Any], parts: Mapping[str, float],
                  points: float, specs: Mapping[str, FeatureSpec] | None = None, limit: int = 3,
                  min_points: float = 0.5) -> tuple[SignalMove, ...]:
    """The signals whose shown value changed and whose theme moved the risk the same way as the change by at
    least `min_points`, largest theme part first (then the largest relative move); context signals (the renewal
    countdown, ...) never.

    A signal of a theme that pushed against the change (MRR up in a week whose risk rose on usage) is left out:
    the line names what explains the change, not every number that moved.
    """
    if abs(points) < 1e-9:
        return ()
    sign = 1.0 if points > 0 else -1.0
    candidates: list[tuple[float, float, str, FeatureSpec, float | None, float | None]] = []
    for name in dict.fromkeys([*current, *previous]):  # a stable order: ties sort the same every time
        b, a = previous.get(name), current.get(name)
        if b == a:  # also both None
            continue
        before, after = _value(b), _value(a)
        spec = spec_for(name, specs)
        push = sign * float(parts.get(spec.theme, 0.0))
        if push < min_points or is_context(spec):
            continue
        rel = 1.0 if before is None or after is None else abs(after - before) / max(abs(before), 1e-9)
        candidates.append((push, rel, name, spec, before, after))
    candidates.sort(key=lambda x: (-x[0], -x[1]))
    out: list[SignalMove] = []
    for _, _, name, spec, before, after in candidates:
        if len(out) == limit:
            break
        shown = (format_value(before, spec.unit, with_unit=False, missing="none"),
                 format_value(after, spec.unit, with_unit=False, missing="none"))
        if shown[0] == shown[1]:
            continue  # moved less than it shows
        words = SIGNAL_LABELS.get(name) or label(spec)[:1].lower() + label(spec)[1:]
        out.append(SignalMove(name, words, before, after, spec.unit, spec.theme, shown))
    return tuple(out)
