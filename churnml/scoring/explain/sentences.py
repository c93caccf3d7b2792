"""Sentences for reasons: one account's value of one feature, phrased from its feature catalog entry.

Every feature phrases the same way, from its `FeatureSpec`: the description, the value in the spec's unit
(`churnml.features.units.format_value`) and, when the spec names a `reference` feature, that feature's value with
the direction of the movement ("Product events in the last 30 days: 12, down from 40 in the 30 days before
the last 30"). A new feature in the catalog phrases sensibly with nothing added here. `TEMPLATES` holds the few
features whose words need more than that (renewal timing, contract type, tenure, NPS with its category), and
`MISSING` what a missing value means where "not recorded" would mislead ("No CSAT survey answered ...").

Sentences state facts only (never "healthy" or "worrying"): the sign of the contribution decides whether a
reason is a risk driver or a protective factor, and the words "down" / "up" follow the numbers shown.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from churnml.features.catalog import BY_NAME, FeatureSpec, static_attribute_spec
from churnml.features.units import SYMBOL_UNITS, duration, float_formatter, format_keys, format_value, number


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
        if type(v) is float:  # the common case first (`_columns` gives float64 columns as lists of floats)
            return None if v != v else v
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, np.floating | float | int | np.integer):
            return float(v)
        return str(v)


Template = Callable[[Any, _Row], str]

# --------------------------------------------------------------------------- the generic phrasing

_ATTRIBUTE = "Account attribute: "
_PREPOSITIONS = frozenset({"in", "over", "during", "within", "since", "for", "at", "on"})
_EARLIER = re.compile(r"\b(before|ago|previous|earlier|prior)\b", re.I)
_OPTIONS = re.compile(r"\s*\([^()]*,[^()]*\)$")  # "(monthly, annual, multi-year)": the levels, not needed by a value


def attribute_label(column: str) -> str:
    """A column name as words: 'TotalCharges' / 'total_charges' -> 'Total charges'; acronyms kept ('NPS')."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", column).replace("_", " ")
    words = [w if len(w) > 1 and w.isupper() else w.lower() for w in spaced.split()]
    if not words:
        return column
    return words[0][:1].upper() + words[0][1:] + "".join(f" {w}" for w in words[1:])


def label(spec: FeatureSpec) -> str:
    """What a reason calls the feature: its description (an imported attribute's column name as words; a
    categorical without its list of levels)."""
    return _label(spec.description, spec.kind == "categorical")


@functools.lru_cache(maxsize=4096)
def _label(text: str, categorical: bool) -> str:
    if text.startswith(_ATTRIBUTE):
        return attribute_label(text[len(_ATTRIBUTE):])
    return _OPTIONS.sub("", text) if categorical else text


@functools.lru_cache(maxsize=4096)
def _names_unit(unit: str, words: str) -> bool:
    """Whether `words` already name the counted noun `unit` (so the number goes without it)."""
    return unit not in SYMBOL_UNITS and unit.lower().removesuffix("s") in words.lower()


def _quantity(spec: FeatureSpec, value: Any, words: str) -> str:
    """The value in the spec's unit; a counted noun is left out when `words` already name it."""
    return format_value(value, spec.unit, with_unit=not _names_unit(spec.unit, words))


@functools.lru_cache(maxsize=512)
def reference_words(own: str, reference: str) -> tuple[str, bool]:
    """How the reference's value reads after a number, and whether it is an earlier period.

    The words the two descriptions share are dropped, back to the last shared preposition: 'Product events in
    the last 30 days' vs 'Product events in the 30 days before the last 30' gives 'in the 30 days before the
    last 30' (earlier); 'Monthly recurring revenue' vs '... 90 days ago' gives '90 days ago' (earlier); with
    nothing shared, the reference's description in parentheses.
    """
    a, b = own.split(), reference.split()
    k = 0
    while k < min(len(a), len(b)) and a[k].lower() == b[k].lower():
        k += 1
    cut = max((j for j in range(k) if a[j].lower() in _PREPOSITIONS), default=k)
    rest = " ".join(b[cut:])
    if not cut or not rest:
        rest = f"({reference[:1].lower()}{reference[1:]})"
    return rest, bool(_EARLIER.search(" ".join(b[cut:]) or reference))


def pair_sentence(spec: FeatureSpec, value: float, ref_spec: FeatureSpec, ref_value: float) -> str:
    """'<label>: 12, down from 40 in the 30 days before the last 30' — the direction word follows the numbers
    as shown ('the same as' when they print alike); a reference that is not an earlier period (a longer window)
    reads in parentheses: 'Distinct product features used in the last 30 days: 3 (5 in the last 90 days)'."""
    return phraser(spec, ref_spec).pair(value, ref_value)


def generic_sentence(spec: FeatureSpec, value: Any) -> str:
    """'<label>: <value in its unit>', or what a missing value means (`MISSING`, else 'not recorded')."""
    own = label(spec)
    if value is None:
        return MISSING.get(spec.name) or f"{own}: not recorded"
    return f"{own}: {_quantity(spec, value, own)}"


# --------------------------------------------------------------------------- where words need more

_NO_NPS = "No NPS survey answered in the last year"
_NO_TICKETS_CLOSED = "No tickets closed in the last 90 days"
_NO_SUBSCRIPTION_BEFORE = "No subscription 90 days ago"

#: What a missing value means, where "not recorded" would mislead (the window held nothing to measure).
MISSING: dict[str, str] = {
    "effort_mean_90d": _NO_TICKETS_CLOSED,
    "reopen_rate_90d": _NO_TICKETS_CLOSED,
    "resolution_hours_90d": "No tickets resolved in the last 90 days",
    "high_priority_share_90d": "No support tickets in the last 90 days",
    "nps_latest": _NO_NPS,
    "nps_category": _NO_NPS,
    "csat_mean_90d": "No CSAT survey answered in the last 90 days",
    "ces_mean_90d": "No Customer Effort Score survey answered in the last 90 days",
    "days_since_last_survey": "No survey answered in the last year",
    "days_since_last_event": "No product activity in the last 90 days",
    "seat_utilisation_30d": "No paid seats to compare usage with",
    "csm_enps_90d": "No eNPS answer from the CS team in the last 90 days",
    "mrr": "No MRR recorded",
    "mrr_90d_ago": _NO_SUBSCRIPTION_BEFORE,
    "mrr_change_90d": _NO_SUBSCRIPTION_BEFORE,
    "mrr_change_pct_90d": _NO_SUBSCRIPTION_BEFORE,
    "days_to_renewal": "No renewal date on record",
    "contract_type": "Contract type unknown",
    "tenure_days": "No subscription start on record",
    "account_age_days": "Account creation date unknown",
}


def _nps_latest(v: Any, r: _Row) -> str:
    if v is None:
        return _NO_NPS
    category = r("nps_category")  # the feature's own category (one definition: churnml.features.sentiment)
    text = f"Latest NPS {number(v)}" + (f" ({category})" if category else "")
    prev = r("nps_previous")
    if prev is None:
        return text
    if number(prev) == number(v):
        return f"{text}, the same as the answer before"
    return f"{text}, {'down' if v < prev else 'up'} from {number(prev)}"


def _days_since_event(v: Any, r: _Row) -> str:
    if v is None:
        return MISSING["days_since_last_event"]
    if v >= 7:
        return f"No product activity for {format_value(v, 'days')}"
    return "Product activity in the last day" if v < 1 else f"Last product activity {format_value(v, 'days')} ago"


def _renewal(v: Any, r: _Row) -> str:
    if v is None:
        return MISSING["days_to_renewal"]
    return "Renewal due today" if v < 1 else f"Renewal in {format_value(v, 'days')}"


def _contract(v: Any, r: _Row) -> str:
    return MISSING["contract_type"] if v is None else f"{str(v).replace('_', '-').capitalize()} contract"


TEMPLATES: dict[str, Template] = {
    "nps_latest": _nps_latest,
    "days_since_last_event": _days_since_event,
    "days_to_renewal": _renewal,
    "contract_type": _contract,
    "tenure_days": lambda v, r: MISSING["tenure_days"] if v is None else f"Customer for {duration(v)}",
    "account_age_days": lambda v, r: MISSING["account_age_days"] if v is None else
    f"Account created {duration(v)} ago",
}

#: The other columns a template reads besides its own feature's (none where not listed): a templated sentence
#: is then a function of these values, so it can be phrased once per distinct values (a test checks it).
TEMPLATE_READS: dict[str, tuple[str, ...]] = {
    "nps_latest": ("nps_category", "nps_previous"),
}


# --------------------------------------------------------------------------- one feature of one account


def spec_for(name: str, specs: Mapping[str, FeatureSpec] | None = None, numeric: bool = True) -> FeatureSpec:
    """Registry entry for `name`: the given specs, else the registry, else a static-attribute entry."""
    if specs and name in specs:
        return specs[name]
    return BY_NAME.get(name) or static_attribute_spec(name, numeric)


class Phraser:
    """The words of one feature, resolved once (label, unit, template, reference and how it reads); called with
    an account's row, it gives the sentence: its template if it has one, else the pair with its reference when
    both values are known, else the generic '<label>: <value>'."""

    __slots__ = ("earlier", "fmt", "fmt_keys", "label", "missing", "name", "ref_fmt", "ref_keys", "ref_name", "rest",
                 "spec", "template", "unit", "with_unit")

    def __init__(self, spec: FeatureSpec, ref: FeatureSpec | None) -> None:
        self.spec, self.name, self.unit = spec, spec.name, spec.unit
        self.template = TEMPLATES.get(spec.name)
        self.label = label(spec)
        self.missing = MISSING.get(spec.name) or f"{self.label}: not recorded"
        self.with_unit = not _names_unit(spec.unit, self.label)
        self.ref_name = ref.name if ref is not None else None
        self.fmt = float_formatter(spec.unit, self.with_unit)
        self.fmt_keys = format_keys(spec.unit, self.with_unit)
        ref_unit = not _names_unit(ref.unit, self.label) if ref is not None else False
        self.ref_fmt = float_formatter(ref.unit, ref_unit) if ref is not None else None
        self.ref_keys = format_keys(ref.unit, ref_unit) if ref is not None else None
        self.rest, self.earlier = reference_words(self.label, label(ref)) if ref is not None else ("", False)

    def __call__(self, row: _Row) -> str:
        value = row(self.name)
        if self.template is not None:
            return self.template(value, row) or generic_sentence(self.spec, value)
        if value is None:
            return self.missing
        if not isinstance(value, float):
            return f"{self.label}: {value}"
        if self.ref_fmt is not None:
            ref = row(self.ref_name)
            if isinstance(ref, float):
                return self.pair(value, ref)
        return f"{self.label}: {self.fmt(value)}"

    def pair(self, value: float, ref: float) -> str:
        """The sentence of a value with its reference's (`pair_sentence`)."""
        now = self.fmt(value)
        then = self.ref_fmt(ref) if self.ref_fmt is not None else self.fmt(ref)
        if not self.earlier:
            return f"{self.label}: {now} ({then} {self.rest})"
        if now == then:
            return f"{self.label}: {now}, the same as {self.rest.strip('()')}"
        return f"{self.label}: {now}, {'down' if value < ref else 'up'} from {then} {self.rest}"

    @property
    def reads(self) -> tuple[str, ...]:
        """The columns the sentence is made of: equal values there give the same sentence."""
        if self.template is not None:
            return (self.name, *TEMPLATE_READS.get(self.name, ()))
        return (self.name,) if self.ref_fmt is None or self.ref_name is None else (self.name, self.ref_name)

    def keys(self, cols: Mapping[str, Any], rows: np.ndarray) -> list[np.ndarray]:
        """Per row of `rows` (indices into the columns `cols`), keys that are equal only where this phraser's
        sentences are: the values it `reads`, numbers as they are shown (`format_keys`) where its columns are
        float64 arrays. Phrasing one row per distinct keys then gives every row its own sentence."""
        if self.template is None and all(isinstance(cols.get(n), np.ndarray) and cols[n].dtype == np.float64
                                         for n in self.reads):
            value = cols[self.name][rows]
            if len(self.reads) == 1:
                return self.fmt_keys(value)
            ref = cols[self.reads[1]][rows]
            return [*self.fmt_keys(value), *self.ref_keys(ref), value < ref]  # type: ignore[misc]
        return [_values(cols, n, rows) for n in self.reads]


def _values(cols: Mapping[str, Any], name: str, rows: np.ndarray) -> np.ndarray:
    """The values of column `name` at `rows` (None where the column is absent, as `_Row` reads it)."""
    column = cols.get(name)
    if column is None:
        return np.full(len(rows), None, dtype=object)
    return column[rows] if isinstance(column, np.ndarray) else np.asarray(column, dtype=object)[rows]


class Memo:
    """A `Phraser` that remembers its sentences by the values they are made of (its feature's and its reference's),
    for phrasing many rows: accounts often share values (counts, levels, missing). Only for phrasers without a
    template (a template may read any column). Keep one per batch of rows: it grows with the distinct values."""

    __slots__ = ("cache", "name", "ref_name", "say")

    def __init__(self, say: Phraser) -> None:
        if say.template is not None:
            raise ValueError(f"{say.name}: a templated sentence may read any column; it cannot be remembered")
        self.say, self.name = say, say.name
        self.ref_name = say.ref_name if say.ref_fmt is not None else None
        self.cache: dict[tuple[Any, Any], str] = {}

    def __call__(self, row: _Row) -> str:
        key = (row(self.name), row(self.ref_name))
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self.say(row)
        return found


@functools.lru_cache(maxsize=4096)
def phraser(spec: FeatureSpec, ref: FeatureSpec | None = None) -> Phraser:
    """The (cached) `Phraser` of `spec`, comparing with `ref` (its reference feature's entry)."""
    return Phraser(spec, ref)


def phraser_for(spec: FeatureSpec, specs: Mapping[str, FeatureSpec] | None = None) -> Phraser:
    """`phraser` of `spec` with its reference looked up in `specs` / the registry."""
    return phraser(spec, spec_for(spec.reference, specs) if spec.reference else None)


def phrase(spec: FeatureSpec, row: _Row, specs: Mapping[str, FeatureSpec] | None = None) -> str:
    """The sentence for one feature of one account (`Phraser`)."""
    return phraser_for(spec, specs)(row)


def sentence_for(feature: str, values: Mapping[str, Any], specs: Mapping[str, FeatureSpec] | None = None) -> str:
    """The sentence for `feature` given one account's values by name (missing values: None or NaN)."""
    cols = {k: np.array([v], dtype=object) for k, v in values.items()}
    value = values.get(feature)
    return phrase(spec_for(feature, specs, numeric=not isinstance(value, str)), _Row(cols, 0), specs)
