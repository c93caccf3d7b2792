"""Numbers in the feature catalog's display units, written one way everywhere.

The catalog gives each feature a unit ("events", "days", "USD", "%", "score", "ratio", ...). Reasons
(`churnml.scoring.explain`), the KPI report (`churnml.reporting.report`) and the web page (`serving`) all format
values through `format_value`, so "$1,234", "25%" and "3 tickets" read the same in each. It lives beside the
catalog because every stage that shows a feature may import `features` (docs/architecture.md).

Units: "USD" ($), "%" (a fraction: 0.25 → 25%), "ratio" (×), "score" and "" (the bare number); any other unit
is a noun counted after the number, singular for exactly one ("1 ticket", "3 tickets").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: Units written as a symbol or not at all; every other unit is a counted noun.
SYMBOL_UNITS: frozenset[str] = frozenset({"USD", "%", "ratio", "score", ""})


def number(x: float, decimals: int | None = None) -> str:
    """12 / 6.5 / 0.25 / 1,234: thousands separated; with `decimals`, exactly that many places, otherwise no
    trailing zeros (2 places under 10, 1 under 100, none from 100 on)."""
    if not math.isfinite(x):
        return "unknown"
    if decimals is not None:
        return f"{x:,.{decimals}f}"
    if abs(x - round(x)) < 1e-9:
        return f"{round(float(x)):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    text = f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".")


def usd(x: float, decimals: int | None = None) -> str:
    """-$1,234 / $12.50 / $300: cents only under $100 and only when there are any (or exactly `decimals`)."""
    x = round(x, 2)  # what is shown: 0.004 is $0, not $0.00
    sign = "-" if x < 0 else ""
    if decimals is not None:
        return f"{sign}${abs(x):,.{decimals}f}"
    whole = abs(x) >= 100 or abs(x - round(x)) < 1e-9
    return f"{sign}${abs(x):,.0f}" if whole else f"{sign}${abs(x):,.2f}"


def percent(fraction: float, decimals: int | None = None) -> str:
    """0.25 → 25%, 0.034 → 3.4%: one decimal under 10% (or exactly `decimals`)."""
    if decimals is not None:
        return f"{100 * fraction:.{decimals}f}%"
    return f"{number(round(fraction * 100, 1 if abs(fraction) < 0.1 else 0))}%"


def noun(unit: str, value: float) -> str:
    """The unit word for `value`: singular for exactly one ('1 event'), as given otherwise."""
    return unit.removesuffix("s") if abs(abs(value) - 1) < 1e-9 and unit.endswith("s") else unit


def duration(days: float) -> str:
    """A number of days as a CSM says it: '45 days', '8 months', '3.8 years'."""
    if days >= 730:
        return f"{number(round(days / 365.25, 1))} years"
    if days >= 60:
        return f"{number(round(days / 30.44))} months"
    return f"{number(days)} {noun('days', days)}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ in ("NAType",
                                                                                                     "NaTType")


def format_value(value: Any, unit: str = "", *, decimals: int | None = None, with_unit: bool = True,
                 missing: str = "not recorded") -> str:
    """`value` in `unit` (a catalog unit, see the module doc): '$1,234', '25%', '1.5×', '3 tickets', '4.2'.

    Text values are returned as they are; missing values (None, NaN, pandas NA) as `missing`. `with_unit=False`
    leaves a counted noun out (when the words around already name it), never a symbol.
    """
    if isinstance(value, float):
        if value != value:
            return missing
        x = value
    elif isinstance(value, str):
        return value
    elif _missing(value):
        return missing
    else:
        x = float(value)
    if unit == "USD":
        return usd(x, decimals)
    if unit == "%":
        return percent(x, decimals)
    shown = number(x if decimals is not None else round(x, 2), decimals)
    if unit == "ratio":
        return f"{shown}×"
    if unit in SYMBOL_UNITS or not with_unit:
        return shown
    return f"{shown} {noun(unit, x)}"


def float_formatter(unit: str, with_unit: bool = True) -> Callable[[float], str]:
    """`format_value` for finite floats of one unit, resolved once (for formatting many values of one feature)."""
    if unit == "USD":
        return usd
    if unit == "%":
        return percent
    if unit == "ratio":
        return lambda x: f"{number(round(x, 2))}×"
    if unit in SYMBOL_UNITS or not with_unit:
        return lambda x: number(round(x, 2))
    return lambda x: f"{number(round(x, 2))} {noun(unit, x)}"


def round_half_even(x: np.ndarray, digits: int) -> np.ndarray:
    """`round(float(v), digits)` for every value of `x` (float64), the same to the last bit.

    `rint(x · 10**digits) / 10**digits` is Python's result whenever the product's rounding cannot flip which
    integer is nearest (its fraction not within a few ulps of ½, the product well inside 2**52); the rest, and
    non-finite values, go through Python's `round`.
    """
    x = np.asarray(x, dtype="float64")
    scale = 10.0 ** digits
    with np.errstate(over="ignore", invalid="ignore"):
        y = x * scale
        out = np.rint(y) / scale
        frac = np.abs(y - np.trunc(y))
        risky = ~(np.abs(frac - 0.5) > np.abs(y) * 2.0 ** -48 + 2.0 ** -60) | ~(np.abs(y) < 2.0 ** 50)
    for i in np.flatnonzero(risky):
        out[i] = round(float(x[i]), digits)
    return out


def format_keys(unit: str, with_unit: bool = True) -> Callable[[np.ndarray], list[np.ndarray]]:
    """For `float_formatter(unit, with_unit)`: per value, keys (vectorised) that are equal only where the
    formatted texts are (the value as shown, and whether its noun is singular), so many values can be formatted
    once per distinct key. Missing values keep NaN keys."""
    if unit == "%":
        def shown(x: np.ndarray) -> list[np.ndarray]:
            scaled = x * 100
            return [np.where(np.abs(x) < 0.1, round_half_even(scaled, 1), round_half_even(scaled, 0))]
        return shown
    if unit in SYMBOL_UNITS or not with_unit:  # USD rounds to cents first, the others to 2 places
        return lambda x: [round_half_even(x, 2)]
    return lambda x: [round_half_even(x, 2), (np.abs(np.abs(x) - 1) < 1e-9) & unit.endswith("s")]
