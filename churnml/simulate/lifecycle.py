"""Accounts, their latent health and their contract life: who they are, how healthy, when they renew or churn.

Causality, which the oracle in `truth/` relies on:

* Health is a latent monthly process (mean-reverting, with momentum and shocks), driven by the account's baseline,
  onboarding quality and its CSM's morale. It never looks at churn.
* At the start of each month an account's churn hazard is a logistic function of its health at that moment (plus
  segment, early-tenure and renewal-timing terms). Churn is decided ONLY by a uniform draw against that hazard,
  and the hazard is written to `truth/monthly_churn_probability.parquet` as it was used.
* Usage, tickets and surveys are drawn afterwards from the health path (see `usage.py`, `support.py`), so they
  can only reveal health, never the churn draw itself.

Subscriptions use inclusive end dates: `end_date` is the last covered day; a renewal or a plan/seat change starts
a new row on the next day, so contiguous rows never overlap. A churned row ends on the last covered day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from churnml.simulate.params import (
    ANNUAL_DISCOUNT,
    CHANNELS,
    EVENT_TYPES,
    INDUSTRIES,
    REGIONS,
    SimParams,
    plan_for,
)
from churnml.simulate.timeline import Grid, add_year

_IND_W = np.array([i[1] for i in INDUSTRIES]) / sum(i[1] for i in INDUSTRIES)
_REG_W = np.array([r[1] for r in REGIONS]) / sum(r[1] for r in REGIONS)
_CHA_W = np.array([c[1] for c in CHANNELS]) / sum(c[1] for c in CHANNELS)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def account_seed(seed: int, index: int) -> np.random.SeedSequence:
    """Seed of one account: it depends only on (seed, index), so chunking never changes an account's draws."""
    return np.random.SeedSequence([seed, 0, index])


def global_rng(seed: int) -> np.random.Generator:
    """Generator for world-level draws (creation dates, CSM morale)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1, 0])))


def draw_creation_days(rng: np.random.Generator, n: int, grid: Grid, p: SimParams) -> np.ndarray:
    """Creation day of every account, ascending, so account ids follow sign-up order.

    A share `preexisting_share` signed up before `start` (tenure skewed towards recent years); the rest sign up
    during the window at a growing pace. Pre-existing accounts are created at least 15 days before `start` so
    their trial ends and their subscription starts no later than `start`.
    """
    n_pre = int(rng.binomial(n, p.preexisting_share))
    span = grid.start - int(grid.month_starts[0]) - 45
    pre = grid.start - 15 - (rng.random(n_pre) ** 1.4 * span).astype(np.int64)
    window = grid.end - grid.start
    new = grid.start + (rng.random(n - n_pre) ** 0.8 * (window - 1)).astype(np.int64)
    return np.sort(np.concatenate([pre, new]))


def draw_morale(rng: np.random.Generator, n_csm: int, grid: Grid, p: SimParams) -> np.ndarray:
    """Latent morale of each CSM per grid month (n_csm x (n_months + 1)): AR(1) plus one team-wide reorg dip."""
    m = np.empty((n_csm, grid.n_months + 1))
    m[:, 0] = rng.normal(0.0, 0.6, n_csm)
    reorg = int(rng.integers(grid.first_window_month, grid.n_months))
    for t in range(grid.n_months):
        shock = -0.7 if t == reorg else 0.0
        m[:, t + 1] = p.csm_morale_persistence * m[:, t] + rng.normal(0.0, p.csm_morale_noise, n_csm) + shock
    return m


@dataclass
class Account:
    """Static attributes, hidden traits and pre-drawn randomness of one account."""

    index: int
    segment: int
    industry: int
    region: int
    channel: int
    employees: int
    csm: int
    created_us: int
    sub_start: int
    annual: bool
    seats0: int
    price_factor: float
    baseline: float  # long-run health target
    onboarding: float  # onboarding quality, sd units
    style: float  # usage intensity unrelated to health
    tz_hours: float
    api: bool
    integration: bool
    taste: np.ndarray  # per event type multiplicative preference
    nps_offset: int
    eps: np.ndarray  # health innovations per grid month
    shock: np.ndarray  # health velocity shocks per grid month
    u: np.ndarray  # (n_months, 6) uniforms for the contract life
    z: np.ndarray  # (n_months,) normals for the contract life

    @property
    def account_id(self) -> str:
        """Public account id, e.g. A000123."""
        return f"A{self.index:06d}"

    @property
    def user_base(self) -> int:
        """Users of this account have ids user_base + 0, 1, ...; globally unique."""
        return (self.index + 1) * 10_000


def draw_account(
    rng: np.random.Generator, index: int, created: int, n_csm: int, grid: Grid, p: SimParams
) -> Account:
    """Draw one account's attributes and all the randomness of its health path and contract life."""
    seg_w = np.array([s.share for s in p.segments])
    segment = int(rng.choice(len(seg_w), p=seg_w / seg_w.sum()))
    sp = p.segments[segment]
    industry = int(rng.choice(len(_IND_W), p=_IND_W))
    region = int(rng.choice(len(_REG_W), p=_REG_W))
    channel = int(rng.choice(len(_CHA_W), p=_CHA_W))
    lo, hi = sp.seats
    seats0 = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    employees = round(math.exp(rng.uniform(math.log(sp.employees[0]), math.log(sp.employees[1]))))
    trial = int(rng.integers(0, 15))
    sub_start = created + trial if created < grid.start else min(created + trial, grid.end - 1)
    baseline = (
        p.health_mean + rng.normal(0.0, p.health_between_sd) + INDUSTRIES[industry][2] + CHANNELS[channel][2]
    )
    n = grid.n_months
    api_share = (0.15, 0.4, 0.7)[segment]
    integ_share = (0.25, 0.55, 0.8)[segment]
    return Account(
        index=index,
        segment=segment,
        industry=industry,
        region=region,
        channel=channel,
        employees=max(employees, seats0),
        csm=int(rng.integers(0, n_csm)),
        created_us=created * 86_400_000_000
        + int(rng.integers(7, 20) * 3_600_000_000 + rng.integers(0, 3.6e9)),
        sub_start=sub_start,
        annual=bool(rng.random() < sp.annual_share),
        seats0=seats0,
        price_factor=float(rng.uniform(0.9, 1.2)),
        baseline=float(baseline),
        onboarding=float(rng.normal()),
        style=float(math.exp(rng.normal(0.0, p.style_sd) - p.style_sd**2 / 2)),
        tz_hours=REGIONS[region][2],
        api=bool(rng.random() < api_share),
        integration=bool(rng.random() < integ_share),
        taste=np.exp(rng.normal(0.0, 0.5, len(EVENT_TYPES))),
        nps_offset=int(rng.integers(0, 5)),
        eps=rng.normal(0.0, 1.0, n),
        shock=np.where(
            rng.random(n) < p.champion_loss_rate,
            -rng.uniform(*p.champion_loss_size, n),
            0.0,
        )
        + np.where(rng.random(n) < p.sponsor_gain_rate, p.sponsor_gain_size, 0.0),
        u=rng.random((n, 6)),
        z=rng.normal(0.0, 1.0, n),
    )


def health_paths(accts: list[Account], morale: np.ndarray, grid: Grid, p: SimParams) -> np.ndarray:
    """Latent health at each grid month start, vectorised over a chunk of accounts: shape (n, n_months + 1).

    Health starts at the creation month near the baseline shifted by onboarding quality, then follows
    v' = momentum*v + noise*eps - reversion*(h - target) + shock, h' = h + v', where the target is the baseline
    plus the CSM's morale and a fading onboarding effect. Before creation the value is irrelevant (kept at 0).
    """
    n, months = len(accts), grid.n_months
    created_m = np.array([grid.month_of(a.created_us // 86_400_000_000) for a in accts])
    baseline = np.array([a.baseline for a in accts])
    onboarding = np.array([a.onboarding for a in accts])
    csm = np.array([a.csm for a in accts])
    eps = np.stack([a.eps for a in accts])
    shock = np.stack([a.shock for a in accts])
    h = np.zeros((n, months + 1))
    v = np.zeros(n)
    for t in range(months):
        tenure = t - created_m
        born = tenure == 0
        h[born, t] = baseline[born] + 0.8 * p.onboarding_effect * onboarding[born] + 0.3 * eps[born, t]
        v[born] = 0.0
        target = (
            baseline
            + p.csm_morale_effect * morale[csm, t]
            + p.onboarding_effect * onboarding * np.exp(-np.maximum(tenure, 0) / 4.0)
        )
        v = p.health_momentum * v + p.health_noise * eps[:, t] - p.health_reversion * (h[:, t] - target)
        v += shock[:, t]
        h[:, t + 1] = np.where(tenure >= 0, h[:, t] + v, 0.0)
    return h


@dataclass
class Life:
    """Contract life of one account within the simulation.

    Attributes:
        rows: subscription rows (start_day, end_day or None, mrr, plan, seats, term_months).
        intervals: customer coverage within [start, end) as inclusive (first_day, last_day) pairs.
        truth: (grid_month, p_churn, health) for every window month in which the account is a customer.
        churn_days: last covered day of each churn inside the window.
        renewals / renewal_churns: annual renewal months inside the window and how many ended in churn.
        reactivations: churned spells that came back inside the window.
        spells: (first day, first term end or None) of every customer spell (the first subscription and
            each reactivation).
    """

    rows: list[tuple[int, int | None, float, str, int, int]] = field(default_factory=list)
    intervals: list[tuple[int, int]] = field(default_factory=list)
    truth: list[tuple[int, float, float]] = field(default_factory=list)
    churn_days: list[int] = field(default_factory=list)
    renewals: int = 0
    renewal_churns: int = 0
    reactivations: int = 0
    offcycle_churns: int = 0
    spells: list[tuple[int, int | None]] = field(default_factory=list)


def _mrr(seats: int, a: Account, segment: str, price_factor: float) -> tuple[float, str]:
    plan, price = plan_for(seats, segment)
    mrr = seats * price * price_factor * (ANNUAL_DISCOUNT if a.annual else 1.0)
    return round(mrr, 2), plan


def month_hazard(a: Account, p: SimParams, hk: float, ms: int, spell_start: int, renewal: bool,
                 shift: float = 0.0) -> float:
    """Churn probability of a customer in the grid month starting on day `ms`, given its health `hk` then.

    Zero in the month a spell starts; annual contracts: the non-renewal logit in the renewal month, a small
    off-cycle hazard otherwise; monthly: the segment logit, health and a fading early-tenure term. `shift` is
    added to the logit (the effect of a play, `churnml.simulate.plays`; 0 without plays).
    """
    sp = p.segments[a.segment]
    if spell_start >= ms:
        return 0.0
    if a.annual:
        slope = p.renewal_health_slope if renewal else p.hazard_health_slope
        return _sigmoid((sp.renewal_logit if renewal else p.annual_offcycle_logit) - slope * hk + shift)
    tenure = (ms - spell_start) / 30.44
    early = p.early_tenure_logit * math.exp(-tenure / 4)
    return _sigmoid(sp.monthly_logit - p.hazard_health_slope * hk + early + shift)


def quick_gap(u: float) -> int:
    """Days without cover between a churn and a quick reactivation (payment recovered): 3 to 13."""
    return int(3 + u * 11)


def winback_gap(u: float) -> int:
    """Days without cover between a churn and a win-back: 59 to 298."""
    return 59 + int(u * 240)


def bridge_probability(grace_days: int, quick_share: float, winback_share: float) -> float:
    """Probability that a churn is followed by a reactivation within `grace_days` (so it is no churn at all)."""
    quick = sum(1 for g in range(3, 14) if g <= grace_days) / 11
    winback = sum(1 for g in range(59, 299) if g <= grace_days) / 240
    return quick_share * quick + winback_share * winback


def spell_hazards(
    a: Account, spell: tuple[int, int | None], h: np.ndarray, grid: Grid, p: SimParams,
    shift: np.ndarray | None = None,
) -> list[tuple[int, int, int, float, int]]:
    """The day-level churn hazard of one spell in every window month, as if it never ended.

    A spell alive at the start of month k churns in it with probability `month_hazard`; the churn day is
    uniform over [lo, hi] (lo = the later of the month start, spell start and window start; hi = the month's
    last day), except in an annual renewal month, where it is the term end. This is exactly how `live` draws
    churn, so the probability of churning on any day given the health path follows from these rows.

    Returns:
        (grid month, lo day, hi day, p_churn, fixed churn day or -1) per window month from the spell's start.
    """
    start, term_end = spell
    out = []
    for k in range(max(grid.month_of(start), grid.first_window_month), grid.n_months):
        ms, me = int(grid.month_starts[k]), min(int(grid.month_starts[k + 1]), grid.end) - 1
        while term_end is not None and term_end < ms:  # renewals before the window (every year, as in `live`)
            term_end = add_year(term_end + 1) - 1
        renewal = a.annual and term_end is not None and ms <= term_end <= me
        pk = month_hazard(a, p, float(h[k]), ms, start, renewal, 0.0 if shift is None else float(shift[k]))
        lo = max(ms, start, grid.start)
        out.append((k, lo, me, pk, int(term_end) if renewal else -1))
    return out


Treat = Callable[[int, int, float, int, "int | None"], float]  # plays: (k, ms, health, spell start, term end)

def live(a: Account, h: np.ndarray, grid: Grid, p: SimParams, treat: Treat | None = None) -> Life:
    """Run the monthly contract state machine of one account (module docstring: the causal rules).

    `treat`, if given, is called each window month as a customer and returns the plays' churn-logit shift.
    """
    sp = p.segments[a.segment]
    life = Life()
    term = 12 if a.annual else 1
    seats, price_factor = a.seats0, a.price_factor
    row_start = spell_start = a.sub_start
    term_end = add_year(row_start) - 1 if a.annual else None
    alive, react_day = True, None
    lo_seats = max(1, sp.seats[0] // 2)

    def close_row(end: int) -> None:
        mrr, plan = _mrr(seats, a, sp.name, price_factor)
        life.rows.append((row_start, end, mrr, plan, seats, term))

    for k in range(grid.month_of(a.sub_start), grid.n_months):
        ms, me = int(grid.month_starts[k]), min(int(grid.month_starts[k + 1]), grid.end) - 1
        in_window = k >= grid.first_window_month
        u, hk = a.u[k], float(h[k])
        if not alive:
            if react_day is None or react_day > me:
                continue
            alive, row_start, spell_start = True, react_day, react_day
            term_end = add_year(row_start) - 1 if a.annual else None
            react_day = None
            life.reactivations += in_window
        first_month = spell_start >= ms
        renewal = a.annual and term_end is not None and ms <= term_end <= me
        if not life.spells or life.spells[-1][0] != spell_start:
            life.spells.append((spell_start, term_end))
        shift = treat(k, ms, hk, spell_start, term_end) if treat is not None and in_window else 0.0
        pk = month_hazard(a, p, hk, ms, spell_start, renewal, shift)
        if in_window:
            life.truth.append((k, pk, hk))
            life.renewals += renewal and not first_month
        if in_window and u[0] < pk:
            lo = max(ms, spell_start, grid.start)
            day = term_end if renewal else lo + int(u[1] * (me - lo + 1))
            day = max(int(day), grid.start)
            close_row(day)
            life.churn_days.append(day)
            life.renewal_churns += renewal
            life.offcycle_churns += a.annual and not renewal
            alive = False
            if u[2] < p.quick_reactivation_share:
                react_day = day + 1 + quick_gap(u[3])
            elif u[2] < p.quick_reactivation_share + p.winback_share:
                react_day = day + 1 + winback_gap(u[3])
                seats = max(lo_seats, round(seats * 0.8))
            if react_day is not None and react_day <= me:  # back within the same month
                alive, row_start, spell_start = True, react_day, react_day
                term_end = add_year(row_start) - 1 if a.annual else None
                react_day = None
                life.reactivations += 1
            continue
        if renewal and term_end is not None:
            close_row(term_end)
            seats = max(lo_seats, round(seats * math.exp(0.1 * hk + 0.08 * a.z[k])))
            price_factor *= 1.03
            row_start = term_end + 1
            term_end = add_year(row_start) - 1
        elif not a.annual and not first_month and u[3] < p.seat_change_rate:
            day = max(ms + int(u[4] * (me - ms + 1)), row_start + 1)
            if day <= me:
                delta = max(1, round(seats * (0.1 + 0.25 * abs(a.z[k]))))
                up = u[5] < _sigmoid(1.5 * hk - 0.2)
                new_seats = seats + delta if up else max(1, seats - delta)
                if new_seats != seats:
                    close_row(day - 1)
                    seats, row_start = new_seats, day
    if alive and row_start <= grid.end:
        mrr, plan = _mrr(seats, a, sp.name, price_factor)
        life.rows.append((row_start, term_end, mrr, plan, seats, term))
    life.intervals = _coverage(life.rows, grid)
    return life


def _coverage(rows: list[tuple[int, int | None, float, str, int, int]], grid: Grid) -> list[tuple[int, int]]:
    """Merge contiguous subscription rows into customer spells, clipped to [start, end)."""
    spells: list[list[int]] = []
    for start, end, *_ in rows:
        last = grid.end - 1 if end is None else min(end, grid.end - 1)
        if spells and start <= spells[-1][1] + 1:
            spells[-1][1] = max(spells[-1][1], last)
        else:
            spells.append([start, last])
    out = []
    for s, e in spells:
        s = max(s, grid.start)
        if s <= e:
            out.append((s, e))
    return out
