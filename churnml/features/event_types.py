"""Per-event-type features: counts, share of activity and trend per chosen event type, and ratios between types.

Which types (`features.event_types.select`): `none`, a list, `top N` or `all`. `top N` and `all` are decided on the
rows *before the first as-of date being built*: the columns never depend on what happens at or after the dates
they describe, and a backfill over the same dates always gets the same columns. Scoring with a model keeps that
model's columns (`feature_set(model_features=...)`: every type is planned, then restricted to the model's), so a
later date's volumes never change them. `all` keeps at most `max_types`
types (the most frequent, with a warning naming what was dropped): thousands of SKUs or page names would give
thousands of sparse columns. A listed type that never occurs in the table is refused (a typo would otherwise give
a column of zeros).

How it computes: one pass. Events become one row per (account, day) with one count column per type, and
`runs.windowed_sums` turns those into every window of every type at once (runs over as-of indices, no join per
type or per window). Shares, trends and ratios are quotients of those sums, null where the reference is 0 (no
activity, so no share — never a fake 0 or inf).

Names are safe column names: the type lowercased, anything but [a-z0-9] replaced by `_` (`count_<type>_<w>d`,
`share_<type>_<w>d`, `trend_<type>_30d`, `ratio_<a>_<b>_<w>d`); two types that sanitise alike get `_2`, `_3`.
`EventTypePlan.columns` keeps the mapping, and the registry entries use the display names from
`features.event_type_names` ("Unfriends in the last 30 days").
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import ibis

from churnml.config import EventTypeFeaturesConfig
from churnml.features.catalog import FeatureSpec
from churnml.features.keys import KEYS, attach
from churnml.features.runs import Window, windowed_sums
from churnml.features.usage import _ratio

log = logging.getLogger(__name__)

TREND = (0, 30, 60)  # trend: lags (0, 30] against (30, 60]
#: The names `type_specs` gives per-type columns: count_/share_/ratio_<type…>_<w>d (group 2: the window in days)
#: and trend_<type>_30d.
PER_TYPE_COLUMN = re.compile(r"^(count|share|ratio)_.+_(\d+)d$|^trend_.+_30d$")


def is_per_type(name: str) -> bool:
    """Whether a feature column is a per-event-type one (`type_specs`)."""
    return PER_TYPE_COLUMN.match(name) is not None
_REQUIRES = (("events", "ts"), ("events", "event_type"))


@dataclass(frozen=True)
class EventTypePlan:
    """The event types a feature table gets columns for, and the features' names.

    types: types with count / share / trend features. columns: type -> safe name part, for every type used
    (ratio-only types included). specs: the registry entries, in column order.
    """

    types: tuple[str, ...]
    columns: dict[str, str]
    windows: tuple[int, ...]
    ratios: tuple[tuple[str, str], ...]
    specs: tuple[FeatureSpec, ...]

    def restricted(self, names: Collection[str]) -> EventTypePlan | None:
        """The plan for just the per-type columns among `names` (a trained model's), None when it has none."""
        keep = set(names)
        specs = tuple(s for s in self.specs if s.name in keep)
        if not specs:
            return None
        used = [t for t in self.types if any(s.name.split("_", 1)[1].startswith(f"{self.columns[t]}_")
                                             for s in specs if not s.name.startswith("ratio_"))]
        ratios = tuple((a, b) for a, b in self.ratios
                       if any(s.name.startswith(f"ratio_{self.columns[a]}_{self.columns[b]}_") for s in specs))
        return EventTypePlan(tuple(used), self.columns, self.windows, ratios, specs)


def safe_names(types: Sequence[str]) -> dict[str, str]:
    """type -> a safe column-name part ([a-z0-9_], starts and ends alphanumeric); collisions get _2, _3."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for t in sorted(set(types)):
        base = re.sub(r"[^0-9a-z]+", "_", str(t).lower()).strip("_")[:40] or "type"
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        out[t] = name
    return out


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time())


def choose_types(events: ibis.Table, dates: Sequence[dt.date], cfg: EventTypeFeaturesConfig) -> list[str]:
    """The selected event types, most frequent first for `top N` / `all` (ties by name). Runs small queries."""
    if isinstance(cfg.select, list):
        present = set(events.select("event_type").distinct().to_pandas()["event_type"].dropna().astype(str))
        missing = [t for t in cfg.select if t not in present]
        if missing:
            close = {t: difflib.get_close_matches(t, sorted(present), n=1) for t in missing}
            hints = ", ".join(f"{t!r}" + (f" (did you mean {c[0]!r}?)" if c else "") for t, c in close.items())
            raise ValueError(f"features.event_types.select names types that never occur in events.event_type: {hints}")
        return list(dict.fromkeys(cfg.select))
    if cfg.select == "none":
        return []
    before = events.filter((events.ts < _midnight(dates[0])) & events.event_type.notnull())
    volume = before.group_by("event_type").aggregate(n=before.count())
    n = int(cfg.select.split()[1]) if cfg.select.startswith("top") else None
    top = volume.order_by([ibis.desc("n"), "event_type"]).limit(n if n is not None else cfg.max_types + 1)
    chosen = [str(t) for t in top.to_pandas()["event_type"]]
    if n is None and len(chosen) > cfg.max_types:
        total = int(volume.count().to_pandas())
        log.warning(
            "events.event_type has %d values before %s; features.event_types.select=all keeps the %d most frequent "
            "(%s ... %s) and drops %d. List the types you want, or raise features.event_types.max_types.",
            total, dates[0], cfg.max_types, chosen[0], chosen[cfg.max_types - 1], total - cfg.max_types,
        )
        chosen = chosen[: cfg.max_types]
    if not chosen:
        log.warning("features.event_types.select=%s: no events before %s, so no per-type features",
                    cfg.select, dates[0])
    return chosen


def _phrase(t: str, names: Mapping[str, str]) -> str:
    return names.get(t) or f'"{t}" events'


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def type_specs(
    types: Sequence[str], columns: Mapping[str, str], windows: Sequence[int], ratios: Sequence[tuple[str, str]],
    names: Mapping[str, str],
) -> list[FeatureSpec]:
    """Registry entries of the per-type features, phrased with the display names."""
    specs = []
    for t in types:
        c, p = columns[t], _phrase(t, names)
        specs += [FeatureSpec(f"count_{c}_{w}d", f"{_cap(p)} in the last {w} days", "usage", "events",
                              requires=_REQUIRES) for w in windows]
        specs += [FeatureSpec(f"share_{c}_{w}d", f"Share of activity that is {p}, last {w} days", "usage", "%",
                              requires=_REQUIRES) for w in windows]
        specs.append(FeatureSpec(f"trend_{c}_30d", f"{_cap(p)} in the last 30 days relative to the 30 days before",
                                 "usage", "ratio", requires=_REQUIRES))
    for a, b in ratios:
        specs += [FeatureSpec(f"ratio_{columns[a]}_{columns[b]}_{w}d",
                              f"{_cap(_phrase(a, names))} relative to {_phrase(b, names)}, last {w} days",
                              "usage", "ratio", requires=_REQUIRES) for w in windows]
    return specs


def plan_event_types(
    events: ibis.Table, dates: Sequence[dt.date], cfg: EventTypeFeaturesConfig, names: Mapping[str, str],
    taken: Collection[str] = (),
) -> EventTypePlan | None:
    """What `event_type_features` will compute (None when nothing is configured or nothing was chosen).

    Args:
        events: the events table the types are chosen on (the whole table, even when the features are built for
            some accounts only, so one account's features have the same columns as everyone's).
        dates: sorted as-of dates being built.
        taken: feature names already in use; a per-type name equal to one is refused.
    """
    if "event_type" not in events.columns or (cfg.select == "none" and not cfg.ratios):
        return None
    types = choose_types(events, dates, cfg)
    ratio_types = [t for pair in cfg.ratios for t in pair]
    if ratio_types:
        check = cfg.model_copy(update={"select": ratio_types})
        choose_types(events, dates, check)  # refuses ratio types that never occur
    if not types and not cfg.ratios:
        return None
    columns = safe_names([*types, *ratio_types])
    ratios = tuple(dict.fromkeys((a, b) for a, b in cfg.ratios))
    specs = type_specs(types, columns, cfg.windows, ratios, names)
    clash = sorted({s.name for s in specs} & set(taken))
    if clash:
        raise ValueError(f"per-event-type feature names {clash} equal existing features; rename those event types")
    return EventTypePlan(tuple(types), columns, tuple(cfg.windows), ratios, tuple(specs))


def _needs(plan: EventTypePlan) -> dict[str, tuple[str, str | None]]:
    """Feature name -> (numerator, denominator) internal sum columns (denominator None: a plain count)."""
    c = plan.columns
    out: dict[str, tuple[str, str | None]] = {}
    for t in plan.types:
        for w in plan.windows:
            out[f"count_{c[t]}_{w}d"] = (f"_n_{c[t]}_{w}", None)
            out[f"share_{c[t]}_{w}d"] = (f"_n_{c[t]}_{w}", f"_all_{w}")
        out[f"trend_{c[t]}_30d"] = (f"_n_{c[t]}_30", f"_p_{c[t]}_30")
    for a, b in plan.ratios:
        for w in plan.windows:
            out[f"ratio_{c[a]}_{c[b]}_{w}d"] = (f"_n_{c[a]}_{w}", f"_n_{c[b]}_{w}")
    return out


def _window_of(col: str) -> Window:
    """The window of an internal sum column: _all_<w>, _n_<type>_<w> (lags (0, w]) or _p_<type>_30 ((30, 60])."""
    kind, rest = col[1:].split("_", 1)
    w = int(rest.rsplit("_", 1)[-1])
    value = "n_events" if kind == "all" else f"n__{rest.rsplit('_', 1)[0]}"
    return Window(TREND[1], TREND[2], value) if kind == "p" else Window(0, w, value)


def event_type_features(
    spine: ibis.Table, events: ibis.Table, dates: Sequence[dt.date], plan: EventTypePlan,
    wanted: Collection[str] | None = None,
) -> ibis.Table:
    """Per-type features for every (account_id, as_of) of `spine` (counts 0 for silent accounts, quotients null).

    Args:
        spine: (account_id, as_of) rows.
        events: validated events (account_id, ts, event_type); rows on or after an as-of date are never seen.
        dates: the sorted as-of dates of `spine`.
        plan: from `plan_event_types`.
        wanted: feature names needed (None: all of the plan's).
    """
    planned = {s.name for s in plan.specs}
    needs = {n: parts for n, parts in _needs(plan).items() if n in planned and (wanted is None or n in wanted)}
    if not needs:
        return spine
    sums = sorted({p for parts in needs.values() for p in parts if p is not None})
    per_type = {v for s in sums if (v := _window_of(s).value) is not None and v != "n_events"}
    lookback = max(_window_of(s).hi for s in sums)
    ev = events.filter((events.ts >= _midnight(dates[0] - dt.timedelta(days=lookback)))
                       & (events.ts < _midnight(dates[-1])))
    ev = ev.mutate(day=ev.ts.date())
    by_col = {c: t for t, c in plan.columns.items()}
    daily = ev.group_by(["account_id", "day"]).aggregate(
        n_events=ev.count(),
        **{col: (ev.event_type == by_col[col[3:]]).cast("int64").sum() for col in sorted(per_type)},
    )
    s = windowed_sums(daily, {name: _window_of(name) for name in sums}, dates)
    out = attach(spine, s.select(*KEYS, *sums), KEYS)
    out = out.mutate(**{c: ibis.coalesce(out[c], 0).cast("int64") for c in sums})
    features = {
        name: out[num] if den is None else _ratio(out[num], out[den]) for name, (num, den) in needs.items()
    }
    return out.select(*KEYS, **features)
