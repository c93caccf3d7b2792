"""The renewal date shown beside a score: as-of date + days to renewal, never a 5xx for a date off the calendar."""

from __future__ import annotations

import datetime as dt

from serving.views import renewal_after, renewal_date


def test_renewal_is_the_as_of_date_plus_the_days() -> None:
    assert renewal_after(dt.date(2025, 1, 1), 30.4) == dt.date(2025, 1, 31)


def test_missing_or_off_calendar_days_give_no_date() -> None:
    day = dt.date(2025, 1, 1)
    assert renewal_after(day, None) is None
    assert renewal_after(day, float("nan")) is None
    assert renewal_after(None, 30) is None
    # schemathesis found these: a posted account may carry any finite number of days
    assert renewal_after(day, 1e300) is None
    assert renewal_after(day, -1e6) is None


def test_a_stored_scoring_reads_its_days_from_the_key_signals() -> None:
    row = {"as_of": "2025-01-01", "signals": '{"days_to_renewal": 10}'}
    assert renewal_date(row) == dt.date(2025, 1, 11)
