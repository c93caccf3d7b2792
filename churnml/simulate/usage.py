"""Product usage: events of one account, caused by its latent health, seats and static traits only.

Per covered day, each seat's user is active with probability propensity(user) x engagement(health) x weekday and
season factors x day noise (Bernoulli over a days x users matrix, no per-event Python). An active user-day opens
with a `login` followed by a Poisson number of follow-up events whose types follow the account's adopted feature
mix; advanced features fade out as health falls (breadth). Integrated accounts also sync nightly, and a broken
integration is left unrepaired more often when health is low. The churn decision is never an input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from churnml.simulate.lifecycle import Account, Life
from churnml.simulate.params import EVENT_TYPES, FOLLOWUP_WEIGHTS, SimParams
from churnml.simulate.timeline import DAY_US, HOUR_US, Grid

_LOGIN = EVENT_TYPES.index("login")
_API = EVENT_TYPES.index("api_call")
_SYNC = EVENT_TYPES.index("integration_sync")
_BASE_W = np.array([FOLLOWUP_WEIGHTS.get(t, (0.0, None))[0] for t in EVENT_TYPES])
_THRESH = np.array(
    [np.nan if FOLLOWUP_WEIGHTS.get(t, (0, None))[1] is None else FOLLOWUP_WEIGHTS[t][1] for t in EVENT_TYPES]
)


@dataclass(frozen=True)
class Daily:
    """Per-day state of one account over its covered days in [start, end)."""

    days: np.ndarray  # day numbers, ascending
    seats: np.ndarray
    health: np.ndarray  # latent health interpolated between month starts
    month: np.ndarray  # grid month index
    starts: np.ndarray  # coverage spell first days
    ends: np.ndarray  # coverage spell last days (inclusive)


def daily_state(life: Life, h: np.ndarray, grid: Grid) -> Daily:
    """Expand an account's coverage into per-day seats and latent health."""
    if life.intervals:
        days = np.concatenate([np.arange(s, e + 1, dtype=np.int64) for s, e in life.intervals])
    else:
        days = np.zeros(0, dtype=np.int64)
    seats = np.zeros(len(days), dtype=np.int64)
    for start, end, _mrr, _plan, n, _term in life.rows:
        last = grid.end if end is None else end
        lo, hi = np.searchsorted(days, start), np.searchsorted(days, last, side="right")
        seats[lo:hi] = n
    rel = days - grid.start
    month = grid.window_month[rel]
    frac = grid.window_frac[rel]
    health = h[month] + frac * (h[month + 1] - h[month])
    return Daily(
        days=days,
        seats=seats,
        health=health,
        month=month,
        starts=np.array([s for s, _ in life.intervals], dtype=np.int64),
        ends=np.array([e for _, e in life.intervals], dtype=np.int64),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def local_time_us(
    rng: np.random.Generator, n: int, mean_h: float, sd_h: float, tz_hours: float
) -> np.ndarray:
    """Time of day in UTC microseconds for working-hours activity in a region (wrapped into the same UTC day)."""
    local = np.clip(rng.normal(mean_h, sd_h, n), 5.0, 22.5)
    return (((local - tz_hours) % 24.0) * HOUR_US).astype(np.int64)


def strictly_increasing(ts: np.ndarray) -> np.ndarray:
    """Sort timestamps and nudge exact ties apart by microseconds, so (account, ts) is unique."""
    ts = np.sort(ts)
    idx = np.arange(len(ts), dtype=np.int64)
    return np.maximum.accumulate(ts - idx) + idx


def account_events(
    rng: np.random.Generator, a: Account, d: Daily, grid: Grid, p: SimParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of one account, sorted by time: (ts_us int64, event type index int8, user_id int64, value float64)."""
    taste = a.taste * np.exp(rng.normal(0.0, 0.2, len(EVENT_TYPES)))
    n_days = len(d.days)
    if n_days == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int64), np.zeros(0))
    n_users = int(d.seats.max())
    propensity = rng.beta(1.3, 2.2, n_users)
    engage = _sigmoid(p.engagement_intercept + p.engagement_slope * d.health)
    rel = d.days - grid.start
    day_noise = np.exp(rng.normal(-(p.day_noise_sd**2) / 2, p.day_noise_sd, n_days))
    act = (p.activity_scale * engage * grid.day_factor[rel] * day_noise).astype(np.float32)
    prob = np.minimum(np.multiply.outer(act, propensity.astype(np.float32)), np.float32(0.97))
    active = rng.random(prob.shape, dtype=np.float32) < prob
    active &= np.arange(n_users)[None, :] < d.seats[:, None]
    di, ui = np.nonzero(active)

    # Sessions: a login, then Poisson follow-ups whose types follow the account-month feature mix.
    lam = p.followups_per_session * a.style * (0.4 + engage[di]) * (0.5 + propensity[ui])
    counts = 1 + rng.poisson(lam)
    total = int(counts.sum())
    sess = np.repeat(np.arange(len(di)), counts)
    first = np.cumsum(counts) - counts
    pos = np.arange(total) - first[sess]
    gaps = rng.exponential(240e6, total).astype(np.int64) + 1_000_000
    gaps[pos == 0] = 0
    cum = np.cumsum(gaps)
    offset = cum - cum[first][sess]
    t0 = local_time_us(rng, len(di), 11.0, 2.6, a.tz_hours)
    tod = np.minimum((t0[sess] + offset) % DAY_US, DAY_US - 1_000_000)
    ts = d.days[di][sess] * DAY_US + tod
    etype = np.full(total, _LOGIN, dtype=np.int8)
    follow = pos > 0
    months = np.unique(d.month)
    mh = (d.health[np.searchsorted(d.month, months)])[:, None]
    adopt = np.where(np.isnan(_THRESH), 1.0, _sigmoid(2.5 * (mh - np.nan_to_num(_THRESH))))
    w = _BASE_W * taste * adopt
    w[:, _API] *= float(a.api)
    cw = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    mi = np.searchsorted(months, d.month[di][sess][follow])
    draws = rng.random(int(follow.sum()))
    etype[follow] = np.minimum((draws[:, None] > cw[mi]).sum(axis=1), len(EVENT_TYPES) - 1)
    user = a.user_base + ui[sess].astype(np.int64)
    value = np.ones(total)
    api = etype == _API
    value[api] = np.round(np.exp(rng.normal(2.5, 1.0, int(api.sum())))) + 1

    if a.integration:  # nightly sync by the admin user; broken syncs stay broken more often when unhealthy
        ok = rng.random(n_days) < np.where(d.health > -1.2, 0.98, 0.45)
        sync_ts = d.days[ok] * DAY_US + 2 * HOUR_US + rng.integers(0, 90 * 60_000_000, int(ok.sum()))
        sync_val = 1.0 + rng.poisson(d.seats[ok] * 15 * engage[ok])
        ts = np.concatenate([ts, sync_ts])
        etype = np.concatenate([etype, np.full(len(sync_ts), _SYNC, np.int8)])
        user = np.concatenate([user, np.full(len(sync_ts), a.user_base, np.int64)])
        value = np.concatenate([value, sync_val])
    order = np.argsort(ts, kind="stable")
    return strictly_increasing(ts[order]), etype[order], user[order], value[order]
