"""Why a score moved: the change in calibrated probability between two scorings, split by theme."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from churnml.scoring.explain.attribution import MODEL_PART, THEMES
from churnml.scoring.explain.sentences import _num

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

