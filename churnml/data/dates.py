"""The one default date for "now", chosen here for every entry point (CLI, weekly job, demo, API, notebooks).

An as-of date left out means **the end of the data**: the day after the latest activity (`observed_until`), so
a command run on last night's export scores, reports and retrains on the newest complete day whatever the
clock says, and the same command on the same data gives the same answer tomorrow. Only where the data has no
time axis (an imported one-row-per-customer snapshot) or no data is at hand (names of training runs) is the
clock used, and then the UTC date (`utc_today`), never the machine's local date, so the score store, the API
and a scheduler in another zone agree on what "today" is.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from churnml.data.sources import Tables


def utc_today() -> dt.date:
    """Today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


def observed_until(tables: Tables) -> dt.date:
    """The day after the latest activity in the data: outcomes are known up to (not including) it.

    Raises:
        ValueError: no table holds a timestamp.
    """
    latest: list[dt.datetime | dt.date] = []
    for name, col in (("events", "ts"), ("tickets", "opened_at"), ("surveys", "ts")):
        t = tables.get(name)
        if t is not None and col in t.columns:
            v = tables.con.execute(t[col].max())
            if v is not None and not pd.isna(v):  # an empty table's max is null (NaT)
                latest.append(v)
    subs = tables.get("subscriptions")
    if subs is not None:
        v = tables.con.execute(subs.start_date.max())
        if v is not None and not pd.isna(v):
            latest.append(v)
    if not latest:
        raise ValueError("cannot tell when the data ends: no timestamps in events, tickets, surveys")
    days = [x.date() if isinstance(x, dt.datetime) else x for x in latest]
    return max(days) + dt.timedelta(days=1)


class PastDataEnd(ValueError):
    """An as-of date after the end of the data: nothing after the data's end is observed yet."""


def check_observed(tables: Tables, as_of: dt.date, what: str) -> None:
    """Refuse an as-of date past the end of the data (`observed_until`): features would read weeks of silence as
    inactivity, and a report would count no churn in months nobody has seen yet (0% churn, 100% GRR).

    Raises:
        PastDataEnd: `as_of` is after `observed_until(tables)`; the message names the data's last day.
    """
    end = observed_until(tables)
    if as_of > end:
        last = end - dt.timedelta(days=1)
        raise PastDataEnd(
            f"cannot {what} as of {as_of}: the data ends on {last} (its latest activity), so nothing after it is "
            f"observed yet. Use an as-of date up to {end}, the end of the data and the default."
        )


def resolve_as_of(tables: Tables, as_of: dt.date | None, what: str) -> dt.date:
    """`as_of`, or the end of the data when None; a date past the end is refused (`check_observed`)."""
    if as_of is None:
        return observed_until(tables)
    check_observed(tables, as_of, what)
    return as_of


def default_as_of(tables: Tables | None = None) -> dt.date:
    """The as-of date an entry point uses when none is given: the end of `tables`, or `utc_today()` without data."""
    return observed_until(tables) if tables is not None else utc_today()


__all__ = ["PastDataEnd", "check_observed", "default_as_of", "observed_until", "resolve_as_of", "utc_today"]
