"""Lifetime / RFM features from an account's whole event history before the as-of date, and uncapped recency.

Everything is a window without an end over the per-day rows of `churnml.features.runs` (one pass, whatever
the number of as-of dates):

- recency: days since the first and the last active day (null only when there was none, ever);
- frequency: events, active days, calendar weeks (Monday to Sunday) and calendar months with activity;
  the mean gap between active days ((last - first) / (active days - 1)) and the latest gap (between the last
  two active days);
- money or time (when `features.event_value.meaning` is money or duration): the sum of `value` per usage
  window and lifetime, and its mean per event. Values are summed as integer millionths of their unit, so the
  running sums cancel exactly and every engine gives the same total;
- trend against the account's own history: `events_vs_history_{w}d` = events in the last w days divided by
  w × the daily rate before them (events before the window / days from the first active day to the window's
  start); null when the account's history does not reach before the window.

`days_since_last_ticket` / `days_since_last_survey` use the same runs over tickets and surveys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import ibis

from churnml.config import FeaturesConfig
from churnml.features.keys import KEYS
from churnml.features.runs import Window, day_number_of, window_rows, windowed_sums, with_next_day

MICRO = 1_000_000  # values are summed in millionths of their unit

Derived = dict[str, tuple[tuple[str, ...], Callable[[ibis.Table], ibis.Value]]]


def has_value(cfg: FeaturesConfig, events: ibis.Table) -> bool:
    """Value features exist when `value` means money or time and the column is there."""
    return cfg.event_value.meaning != "count" and "value" in events.columns


def lifetime_windows(cfg: FeaturesConfig, value: bool) -> dict[str, Window]:
    """Windows over the per-day rows of `daily_rows`; names starting with `_` are intermediate."""
    out = {
        "events_lifetime": Window(0, None, "n_events"),
        "active_days_lifetime": Window(0, None),
        "active_weeks_lifetime": Window(0, None, "new_week"),
        "active_months_lifetime": Window(0, None, "new_month"),
        # One row per account covers each as-of date (runs end at the next active day): sums are that row's.
        "_seen": Window(0, None, distinct=True),
        "_last_dn": Window(0, None, "dn", distinct=True),
        "_last_gap": Window(0, None, "gap", distinct=True),
        "_last_has_prev": Window(0, None, "has_prev", distinct=True),
        "_first_dn": Window(0, None, "first_dn"),
    }
    if value:
        out |= {f"_value_{w}d": Window(0, w, "value_micro") for w in cfg.windows.usage}
        out["_value_lifetime"] = Window(0, None, "value_micro")
    return out


def _ratio(num: ibis.Value, den: ibis.Value) -> ibis.Value:
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def lifetime_derived(cfg: FeaturesConfig, value: bool) -> Derived:
    """Features computed from the windows: name -> (windows it needs, expression over the sums table)."""
    seen = ("_seen",)
    out: Derived = {
        "days_since_last_event": (
            (*seen, "_last_dn"), lambda s: ibis.ifelse(s._seen > 0, s.as_of_dn - s._last_dn, ibis.null("int64"))),
        "days_since_first_event": (
            (*seen, "_first_dn"), lambda s: ibis.ifelse(s._seen > 0, s.as_of_dn - s._first_dn, ibis.null("int64"))),
        "gap_days_mean_lifetime": (
            ("_last_dn", "_first_dn", "active_days_lifetime"),
            lambda s: ibis.ifelse(s.active_days_lifetime >= 2, (s._last_dn - s._first_dn).cast("float64")
                                  / (s.active_days_lifetime - 1).cast("float64"), ibis.null("float64"))),
        "gap_days_latest": (
            ("_last_gap", "_last_has_prev"),
            lambda s: ibis.ifelse(s._last_has_prev > 0, s._last_gap, ibis.null("int64"))),
    }
    for w in cfg.windows.usage:
        out[f"events_vs_history_{w}d"] = (
            (f"events_{w}d", "events_lifetime", "_first_dn", *seen), _vs_history(w))
    if value:
        for w in [*cfg.windows.usage, "lifetime"]:
            label = f"{w}d" if w != "lifetime" else w
            events = f"events_{label}"
            out[f"value_{label}"] = ((f"_value_{label}",), _money(f"_value_{label}"))
            out[f"value_mean_{label}"] = ((f"_value_{label}", events), _mean(f"_value_{label}", events))
    return out


def _vs_history(w: int) -> Callable[[ibis.Table], ibis.Value]:
    def build(s: ibis.Table) -> ibis.Value:
        history = s.as_of_dn - w - s._first_dn  # days from the first active day to the window's start
        before = s.events_lifetime - s[f"events_{w}d"]
        ok = (s._seen > 0) & (history > 0) & (before > 0)
        num = s[f"events_{w}d"].cast("float64") * history.cast("float64")
        return ibis.ifelse(ok, num / (before.cast("float64") * w), ibis.null("float64"))
    return build


def _money(col: str) -> Callable[[ibis.Table], ibis.Value]:
    return lambda s: s[col].cast("float64") / MICRO


def _mean(col: str, events: str) -> Callable[[ibis.Table], ibis.Value]:
    return lambda s: _ratio(s[col].cast("float64") / MICRO, s[events])


def daily_rows(events: ibis.Table, dates: Sequence[dt.date], days: int | None, value: bool,
               lifetime: bool) -> ibis.Table:
    """One row per (account, active day) with `n_events` (and `value_micro`); with `lifetime`, also `dn`,
    `next_day`, `gap` / `has_prev` (to the previous active day), `first_dn` and the new-week / new-month flags."""
    ev = window_rows(events, "ts", dates, days)
    aggs = {"n_events": ev.count()}
    if value:
        aggs["value_micro"] = (ev.value * MICRO).round().cast("int64").sum()
    daily = ev.group_by(["account_id", "day"]).aggregate(**aggs)
    if not lifetime:
        return daily
    w = ibis.window(group_by="account_id", order_by="day")  # one window: one sort for both neighbours
    daily = daily.mutate(dn=day_number_of(daily.day), prev_day=daily.day.lag().over(w),
                         next_day=daily.day.lead().over(w))
    prev_dn = day_number_of(daily.prev_day)
    first = daily.prev_day.isnull()
    week = (daily.dn + 3) // 7  # Monday-based: 1970-01-01 (day 0) was a Thursday
    month = daily.day.year() * 12 + daily.day.month()
    prev_month = daily.prev_day.year() * 12 + daily.prev_day.month()
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    return daily.mutate(
        gap=ibis.ifelse(first, zero, daily.dn - prev_dn),
        has_prev=ibis.ifelse(first, zero, one),
        first_dn=ibis.ifelse(first, daily.dn, zero),
        new_week=ibis.ifelse(first | (week != (prev_dn + 3) // 7), one, zero),
        new_month=ibis.ifelse(first | (month != prev_month), one, zero),
    ).drop("prev_day")


def days_since_last(table: ibis.Table, ts: str, dates: Sequence[dt.date], name: str) -> ibis.Table:
    """(account_id, as_of, name): whole days from the account's last `ts` before the as-of date (null: none)."""
    rows = window_rows(table, ts, dates, None)
    rows = rows.select("account_id", "day").distinct()
    rows = with_next_day(rows.mutate(dn=day_number_of(rows.day)), ["account_id"])
    s = windowed_sums(rows, {"_seen": Window(0, None, distinct=True),
                             "_last_dn": Window(0, None, "dn", distinct=True)}, dates)
    return s.select(*KEYS, **{name: ibis.ifelse(s._seen > 0, s.as_of_dn - s._last_dn, ibis.null("int64"))})
