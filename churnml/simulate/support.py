"""Support tickets, customer surveys and the CS team's eNPS, all caused by latent health (never by churn).

* Tickets arrive as a Poisson process per covered day, more often when health is low, with an onboarding bump;
  low health also shifts priorities up and slows resolution (lognormal, with a slow tail); reopen odds rise too.
* At closing, the requester may answer a transactional CES (stored on the ticket as `effort_score`, only there)
  and a CSAT (a `csat` survey row). NPS goes out quarterly to a few users, and a relationship CES survey ("how
  easy is it to get value from the product", the `ces` survey rows) a month after each NPS wave, driven by
  health, not by any one ticket: the surveys' CES and the tickets' effort scores are two instruments, not one
  answer stored twice. Every response probability rises with health, so unhappy accounts answer less: silence
  is a signal.
* CSMs answer a monthly eNPS pulse driven by their latent morale (which also feeds their accounts' health).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from churnml.simulate.lifecycle import Account
from churnml.simulate.params import SimParams
from churnml.simulate.timeline import DAY_US, HOUR_US, Grid
from churnml.simulate.usage import Daily, local_time_us, strictly_increasing

_PRIORITY_BASE = np.array([0.30, 0.50, 0.15, 0.05])
_MEDIAN_HOURS = np.array([40.0, 20.0, 8.0, 3.0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Support:
    """Tickets and survey responses of one account (numpy columns; ids are formatted by the writer)."""

    opened: np.ndarray
    closed: np.ndarray  # -1 while open at the simulation end
    priority: np.ndarray  # index into TICKET_PRIORITIES
    effort: np.ndarray  # NaN when not answered
    reopened: np.ndarray
    survey_ts: np.ndarray
    survey_kind: np.ndarray  # index into SURVEY_KINDS
    survey_score: np.ndarray
    survey_user: np.ndarray


def _coverage_end_us(d: Daily, ts: np.ndarray) -> np.ndarray:
    """Exclusive end (us) of the customer spell containing each timestamp's day."""
    i = np.searchsorted(d.starts, ts // DAY_US, side="right") - 1
    return (d.ends[np.maximum(i, 0)] + 1) * DAY_US


def account_support(rng: np.random.Generator, a: Account, d: Daily, grid: Grid, p: SimParams) -> Support:
    """Tickets, CES/CSAT after tickets and quarterly NPS responses of one account."""
    sp = p.segments[a.segment]
    end_us = grid.end * DAY_US
    ref_seats = float(np.sqrt(sp.seats[0] * sp.seats[1]))
    rel = d.days - grid.start
    weekday_f = np.where(grid.weekday[rel] < 5, 1.25, 0.4)
    onboarding = 1.0 + 1.5 * np.exp(-(d.days - a.sub_start) / 30.0)
    rate = (
        sp.tickets_per_month
        / 30.4
        * np.sqrt(d.seats / ref_seats)
        * np.exp(-p.ticket_health_slope * d.health)
        * weekday_f
        * onboarding
    )
    n_day = rng.poisson(rate)
    idx = np.repeat(np.arange(len(d.days)), n_day)
    n = len(idx)
    h = d.health[idx]
    opened = d.days[idx] * DAY_US + local_time_us(rng, n, 13.0, 2.5, a.tz_hours)
    w = _PRIORITY_BASE * np.ones((n, 1))
    w[:, 2:] *= np.exp(-0.4 * h)[:, None] * (1.3 if a.segment == 2 else 1.0)
    cw = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    priority = np.minimum((rng.random(n)[:, None] > cw).sum(axis=1), 3)
    hours = _MEDIAN_HOURS[priority] * np.exp(-0.25 * h + rng.normal(0.0, 0.9, n))
    hours *= np.where(rng.random(n) < 0.1, 4.0, 1.0)
    reopened = rng.random(n) < _sigmoid(-2.6 - 0.5 * h + 0.4 * (hours > 48))
    hours *= np.where(reopened, 1.5 + rng.random(n), 1.0)
    closed = opened + (hours * HOUR_US).astype(np.int64) + 60_000_000
    cov_end = np.minimum(_coverage_end_us(d, opened), end_us)
    is_closed = closed < end_us
    closed = np.where(is_closed, closed, -1)
    # Transactional CES at closing: the ticket's effort score (the relationship CES survey is drawn below).
    log_res = np.log(hours / 8.0)
    ces_ts = closed + rng.integers(60_000_000, 3 * HOUR_US, n)
    ces_ok = is_closed & (ces_ts < cov_end)
    ces_ok &= rng.random(n) < _sigmoid(p.ces_response_intercept + p.response_health_slope * h)
    ces = np.clip(np.round(2.8 - 0.7 * h + 0.35 * log_res + 0.8 * reopened + rng.normal(0, 1.0, n)), 1, 7)
    effort = np.where(ces_ok, ces, np.nan)
    csat_ts = closed + (rng.exponential(8.0, n) * HOUR_US).astype(np.int64) + 1_000_000
    csat_ok = is_closed & (csat_ts < cov_end)
    csat_ok &= rng.random(n) < _sigmoid(p.csat_response_intercept + p.response_health_slope * h)
    csat = np.clip(np.round(4.0 + 0.55 * h - 0.5 * reopened - 0.15 * log_res + rng.normal(0, 0.8, n)), 1, 5)
    requester = a.user_base + (rng.random(n) * d.seats[idx]).astype(np.int64)

    # Quarterly NPS waves (Jan/Apr/Jul/Oct) to a few users of accounts with >= 60 days of tenure.
    nps_ts, nps_score, nps_user = [], [], []
    for send, j in _survey_waves(a, d, grid, (1, 4, 7, 10)):
        seats = int(d.seats[j])
        m = min(seats, 2 + seats // 20)
        users = rng.choice(seats, m, replace=False)
        hs = d.health[j]
        answer = rng.random(m) < _sigmoid(
            p.nps_response_intercept + p.response_health_slope * hs + rng.normal(0, 0.5, m)
        )
        ts = send * DAY_US + local_time_us(rng, m, 11.0, 2.0, a.tz_hours)
        ts += (rng.exponential(1.5, m) * DAY_US).astype(np.int64)
        ok = answer & (ts < min(int(_coverage_end_us(d, np.array([send * DAY_US]))[0]), end_us))
        score = np.clip(np.round(7.0 + 1.5 * hs + rng.normal(0, 1.5, m)), 0, 10)
        nps_ts.append(ts[ok])
        nps_score.append(score[ok])
        nps_user.append(a.user_base + users[ok])

    # Drawn last, so every draw above (tickets, CSAT, NPS) is what it was before this survey existed.
    rc_ts, rc_score, rc_user = _relationship_ces(rng, a, d, grid, p, end_us)
    s_ts = np.concatenate([rc_ts, csat_ts[csat_ok], *nps_ts])
    kind = np.concatenate(
        [
            np.full(len(rc_ts), 2),
            np.full(int(csat_ok.sum()), 1),
            np.zeros(sum(len(t) for t in nps_ts), dtype=np.int64),
        ]
    )
    score = np.concatenate([rc_score, csat[csat_ok], *nps_score])
    user = np.concatenate([rc_user, requester[csat_ok], *nps_user]).astype(np.int64)
    order = np.argsort(s_ts, kind="stable")
    t_order = np.argsort(opened, kind="stable")
    return Support(
        opened=opened[t_order],
        closed=closed[t_order],
        priority=priority[t_order],
        effort=effort[t_order],
        reopened=reopened[t_order],
        survey_ts=strictly_increasing(s_ts[order]),
        survey_kind=kind[order],
        survey_score=score[order].astype(np.float64),
        survey_user=user[order],
    )


def _survey_waves(a: Account, d: Daily, grid: Grid, months: tuple[int, ...]) -> Iterator[tuple[int, int]]:
    """(send day, index into the account's days) of each quarterly wave in `months` the account receives: sent on
    the account's day of the month while it is live, once it has 60 days of tenure. Draws nothing at random."""
    for k in range(grid.first_window_month, grid.n_months):
        if grid.month_number[k] not in months:
            continue
        send = int(grid.month_starts[k]) + 9 + a.nps_offset
        j = int(np.searchsorted(d.days, send))
        if j < len(d.days) and d.days[j] == send and send - a.sub_start >= 60:
            yield send, j


def _relationship_ces(
    rng: np.random.Generator, a: Account, d: Daily, grid: Grid, p: SimParams, end_us: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quarterly relationship CES (Feb/May/Aug/Nov, 1 easy – 7 hard) to a few users: (ts_us, score, user)."""
    out_ts, out_score, out_user = [], [], []
    for send, j in _survey_waves(a, d, grid, (2, 5, 8, 11)):
        seats = int(d.seats[j])
        m = min(seats, 1 + seats // 25)
        users = rng.choice(seats, m, replace=False)
        hs = d.health[j]
        answer = rng.random(m) < _sigmoid(p.nps_response_intercept + p.response_health_slope * hs)
        ts = send * DAY_US + local_time_us(rng, m, 11.0, 2.0, a.tz_hours)
        ts += (rng.exponential(2.0, m) * DAY_US).astype(np.int64)
        ok = answer & (ts < min(int(_coverage_end_us(d, np.array([send * DAY_US]))[0]), end_us))
        score = np.clip(np.round(3.4 - 0.9 * hs + rng.normal(0, 1.2, m)), 1, 7)
        out_ts.append(ts[ok])
        out_score.append(score[ok])
        out_user.append(a.user_base + users[ok])
    if not out_ts:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(out_ts), np.concatenate(out_score), np.concatenate(out_user)


def csm_enps(
    rng: np.random.Generator, morale: np.ndarray, grid: Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monthly eNPS pulse of every CSM inside the window: (csm index, ts_us, score)."""
    rows_c, rows_t, rows_s = [], [], []
    n_csm = morale.shape[0]
    for k in range(grid.first_window_month, grid.n_months):
        ts = (int(grid.month_starts[k]) + rng.integers(2, 20, n_csm)) * DAY_US
        ts += rng.integers(8 * HOUR_US, 18 * HOUR_US, n_csm)
        score = np.clip(np.round(7.0 + 1.8 * morale[:, k] + rng.normal(0, 1.3, n_csm)), 0, 10)
        ok = (rng.random(n_csm) < 0.85) & (ts >= grid.start * DAY_US) & (ts < grid.end * DAY_US)
        rows_c.append(np.arange(n_csm)[ok])
        rows_t.append(ts[ok])
        rows_s.append(score[ok])
    return np.concatenate(rows_c), np.concatenate(rows_t), np.concatenate(rows_s)
