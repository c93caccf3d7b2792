"""What an explanation is: reasons, context facts and theme totals, in log-odds and in probability points.

Contributions are computed in log-odds (TreeSHAP, `attribution`), where they add up to the raw score; a CSM
reads probability points, so every reason also carries `points`: its share of `probability − base
probability` (× 100), by the conversion in `points.probability_points`. Both add up: per account, the
themes' log-odds sum to `raw_score − base_value`, their points to `100 × (probability − base_probability)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, get_args

from churnml.features.catalog import Theme

THEMES: tuple[str, ...] = get_args(Theme)  # the catalog's themes, in its order
DRIVERS = "drivers"
PROTECTIVE = "protective"
#: What a theme total holds beyond the reasons listed under it (smaller reasons, and context).
OTHER = "other factors"


@dataclass(frozen=True)
class Reason:
    """One reason (or one context fact). `contribution` is log-odds, `points` probability points (× 100); both
    have the same sign: > 0 raises risk (a driver), < 0 lowers it (protective).

    `features` lists every feature whose contribution was merged into this reason (features that read as
    one fact, e.g. `active_users_30d` with its reference `active_users_prev_30d`); `feature` is the one phrased.
    """

    feature: str
    theme: str
    contribution: float
    sentence: str
    features: tuple[str, ...] = ()
    points: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "theme": self.theme, "contribution": round(self.contribution, 6),
                "points": round(self.points, 4), "sentence": self.sentence,
                "features": list(self.features or (self.feature,))}


class _Themed(Protocol):
    theme: str


class _Pointed(Protocol):
    theme: str
    points: float


R = TypeVar("R", bound=_Themed)
P = TypeVar("P", bound=_Pointed)


@dataclass(frozen=True)
class ThemeTotal:
    """One theme's share of the risk in points, the reasons listed under it, and the rest as `other`.

    `points == sum of the listed reasons' points + other`, by construction: what a page shows under a theme
    adds up to the theme's total.
    """

    theme: str
    points: float
    drivers: tuple[Any, ...]
    protective: tuple[Any, ...]
    other: float


@dataclass(frozen=True)
class Explanation:
    """One account's score and its reasons.

    Attributes:
        probability: calibrated churn probability; `base_probability` the model's at its base value.
        raw_score: booster log-odds; equals `base_value + sum(themes.values())`.
        themes: theme -> summed log-odds contribution of its features (every theme of the model present).
        drivers: top reasons raising risk, largest first; never a context feature.
        protective: top reasons lowering risk, largest (most negative) first; never a context feature.
        context: context facts (renewal timing, contract type, tenure, segment, ...: catalog `context`), the
            largest contributions first, shown beside the reasons and never as a cause.
        theme_points: theme -> probability points; sums to `100 × (probability − base_probability)`.
    """

    account_id: str
    probability: float
    raw_score: float
    base_value: float
    themes: dict[str, float]
    drivers: tuple[Reason, ...]
    protective: tuple[Reason, ...]
    context: tuple[Reason, ...] = ()
    base_probability: float = float("nan")
    theme_points: dict[str, float] = field(default_factory=dict)

    def grouped(self) -> dict[str, dict[str, list[Reason]]]:
        """Reasons by theme (themes in the registry's order, empty ones left out): {theme: {drivers, protective}}."""
        return {theme: {DRIVERS: d, PROTECTIVE: p} for theme, (d, p) in group_by_theme(self.drivers, self.protective)}

    def theme_totals(self) -> list[ThemeTotal]:
        """Every theme's points with the reasons listed under it and the rest (`theme_totals`)."""
        return theme_totals(self.theme_points, self.drivers, self.protective)


def _theme_order(present: Iterable[str]) -> list[str]:
    names = set(present)
    return [t for t in THEMES if t in names] + sorted(names - set(THEMES))


def group_by_theme(drivers: Iterable[R], protective: Iterable[R]) -> list[tuple[str, tuple[list[R], list[R]]]]:
    """Reasons (anything with a `theme`) grouped by theme: [(theme, (drivers, protective))], in the catalog's theme
    order (unknown themes after, sorted), themes without a reason left out. Explanations and the API's response
    models both group with this."""
    d, p = list(drivers), list(protective)
    out = []
    for theme in _theme_order(r.theme for r in (*d, *p)):
        td = [r for r in d if r.theme == theme]
        tp = [r for r in p if r.theme == theme]
        out.append((theme, (td, tp)))
    return out


def theme_totals(theme_points: Mapping[str, float], drivers: Iterable[P], protective: Iterable[P]) -> list[ThemeTotal]:
    """Per theme (catalog order; every theme with points or a reason): its points, the reasons listed under it
    and `other` = points − the listed reasons' points (smaller reasons and context), so a theme's lines always
    add up to its total. Works on anything with `theme` and `points` (explanations, the API's models)."""
    d, p = list(drivers), list(protective)
    out = []
    for theme in _theme_order([*theme_points, *(r.theme for r in (*d, *p))]):
        td = tuple(r for r in d if r.theme == theme)
        tp = tuple(r for r in p if r.theme == theme)
        total = float(theme_points.get(theme, 0.0))
        listed = sum(float(r.points) for r in (*td, *tp))
        out.append(ThemeTotal(theme, total, td, tp, total - listed))
    return out
