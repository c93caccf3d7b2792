"""Plays in the simulated world: a confounded CSM policy, a random recorded holdout, and true effects.

The story (behind `simulate_world(..., plays=PlaySimParams())`; off by default, so other worlds are unchanged):

* Each window month a CSM looks at each of their accounts and acts on the ones that *look* risky: the chance
  of acting is logistic in the account's health as the CSM perceives it (true health plus noise), higher before
  an annual renewal. This is the confounding: treated accounts are the unhealthy ones.
* An account the CSM acts on is *eligible*; a random `holdout` share of eligible accounts is recorded as held
  out and gets no play (that record stands in for the alert log's holdout, `plays.holdout`).
* The CSM picks the play that fits what they perceive (low usage → adoption session, detractor → executive
  call, renewal near → renewal review), and a random one `wrong_play_share` of the time.
* A play shifts the churn-hazard logit by `effect_logit[play]` for `effect_months` months, but only if the
  account *responds*: an adoption session helps only low-usage accounts, an executive call only detractors
  (health where the expected NPS answer is ≤ 6), a renewal review only accounts whose annual renewal falls
  within `renewal_within_days`; and no play saves an account too far gone (health below `lost_cause_below`).
  Everyone else gets nothing from it: the effect is heterogeneous by design, and the riskiest accounts are not
  the ones a play can save.
* `truth/play_effects.parquet` holds, for every account and window month it was a customer in and every play,
  the churn probability over the next `effect_months` months without any play and with that play (the true
  effect is their difference); `truth/play_assignments.parquet` the eligible decisions with their holdout flag.

Plays draw from their own `SeedSequence([seed, 2, index])`, so switching them on changes no other draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from churnml.simulate.lifecycle import Account, month_hazard
from churnml.simulate.params import SimParams
from churnml.simulate.timeline import DAY_US, HOUR_US, Grid

PLAYS: tuple[str, ...] = ("adoption_session", "executive_call", "renewal_review")
EFFECTS_FILE = Path("truth") / "play_effects.parquet"
ASSIGNMENTS_FILE = Path("truth") / "play_assignments.parquet"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class PlaySimParams:
    """Knobs of the CSM policy and the true play effects (see the module docstring)."""

    holdout: float = 0.1
    policy_intercept: float = -2.6  # logit of acting on an account at perceived health 0, per month
    policy_health_slope: float = 1.6  # lower perceived health, more action
    policy_renewal_logit: float = 1.2  # extra logit when an annual renewal is within `renewal_within_days`
    perception_sd: float = 0.5  # noise of the CSM's view of health
    wrong_play_share: float = 0.3
    cooldown_months: int = 3  # no new decision on an account within this many months of the last one
    effect_months: int = 3
    effect_logit: dict[str, float] = field(
        default_factory=lambda: {"adoption_session": -1.4, "executive_call": -1.2, "renewal_review": -1.3}
    )
    low_usage_below: float = 0.35  # usage intensity (style x engagement) below which adoption helps
    detractor_health_below: float = -1.0 / 3.0  # expected NPS 7 + 1.5 h <= 6.5
    renewal_within_days: int = 90
    lost_cause_below: float = -1.0  # health below which no play saves the account (budget cut, champion gone)

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"plays holdout must be in [0, 1), got {self.holdout}")
        if set(self.effect_logit) != set(PLAYS):
            raise ValueError(f"effect_logit needs exactly the plays {PLAYS}, got {sorted(self.effect_logit)}")


def plays_rng(seed: int, index: int) -> np.random.Generator:
    """The plays stream of one account (independent of its lifecycle, usage and support streams)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 2, index])))


class PlayPolicy:
    """The CSM policy for one account, called by `lifecycle.live` at the start of every window month.

    `month(...)` returns the churn-logit shift of that month (the sum of the active responding plays) and
    records the decision, the intervention and the true counterfactual churn probabilities.
    """

    def __init__(self, rng: np.random.Generator, a: Account, h: np.ndarray, grid: Grid, p: SimParams,
                 pp: PlaySimParams) -> None:
        self.rng, self.a, self.h, self.grid, self.p, self.pp = rng, a, h, grid, p, pp
        self.shift = np.zeros(grid.n_months)
        self.last_decision = -10**6
        # (grid month, decided_us, play, held_out)
        self.assignments: list[tuple[int, int, str, bool]] = []
        self.interventions: list[tuple[int, str]] = []  # (ts_us, play)
        self.effects: list[tuple[int, str, float, float, bool]] = []  # (month, play, p0, p1, responds)

    def _usage(self, hk: float) -> float:
        return self.a.style * _sigmoid(self.p.engagement_intercept + self.p.engagement_slope * hk)

    def _renewal_near(self, ms: int, term_end: int | None) -> bool:
        return bool(self.a.annual and term_end is not None and 0 <= term_end - ms <= self.pp.renewal_within_days)

    def responds(self, play: str, hk: float, ms: int, term_end: int | None) -> bool:
        """Whether the account benefits from `play` decided in the month starting `ms` at health `hk`."""
        if hk < self.pp.lost_cause_below:
            return False
        if play == "adoption_session":
            return self._usage(hk) < self.pp.low_usage_below
        if play == "executive_call":
            return hk < self.pp.detractor_health_below
        return self._renewal_near(ms, term_end)

    def _hazards(self, k: int, spell_start: int, term_end: int | None, shift: float) -> float:
        """Churn probability over months k .. k + effect_months - 1 with `shift` on the logit (no other play)."""
        g, survive = self.grid, 1.0
        for j in range(k, min(k + self.pp.effect_months, g.n_months)):
            ms, me = int(g.month_starts[j]), min(int(g.month_starts[j + 1]), g.end) - 1
            renewal = self.a.annual and term_end is not None and ms <= term_end <= me
            survive *= 1.0 - month_hazard(self.a, self.p, float(self.h[j]), ms, spell_start, renewal, shift)
        return 1.0 - survive

    def month(self, k: int, ms: int, hk: float, spell_start: int, term_end: int | None) -> float:
        """Decide this month's play (if any), record the truth, and return the month's logit shift."""
        pp, rng = self.pp, self.rng
        u = rng.random(6)  # fixed number of draws per month: decisions never shift later months' draws
        responders = {q: self.responds(q, hk, ms, term_end) for q in PLAYS}
        p0 = self._hazards(k, spell_start, term_end, 0.0)
        for q in PLAYS:
            p1 = self._hazards(k, spell_start, term_end, pp.effect_logit[q]) if responders[q] else p0
            self.effects.append((k, q, p0, p1, responders[q]))
        seen = hk + pp.perception_sd * float(np.sqrt(-2 * np.log(max(u[0], 1e-12))) * np.cos(2 * np.pi * u[1]))
        renewal_near = self._renewal_near(ms, term_end)
        logit = pp.policy_intercept - pp.policy_health_slope * seen + pp.policy_renewal_logit * renewal_near
        if spell_start < ms and k - self.last_decision >= pp.cooldown_months and u[2] < _sigmoid(logit):
            self.last_decision = k
            if u[3] < pp.wrong_play_share:
                play = PLAYS[min(int(u[4] * len(PLAYS)), len(PLAYS) - 1)]
            elif self._usage(seen) < pp.low_usage_below:
                play = "adoption_session"
            elif renewal_near:
                play = "renewal_review"
            elif seen < pp.detractor_health_below:
                play = "executive_call"
            else:
                play = PLAYS[min(int(u[4] * len(PLAYS)), len(PLAYS) - 1)]
            held_out = bool(u[5] < pp.holdout)
            decided = ms * DAY_US + 8 * HOUR_US
            self.assignments.append((k, decided, play, held_out))
            if not held_out:
                self.interventions.append((decided, play))
                if responders[play]:
                    self.shift[k:k + pp.effect_months] += pp.effect_logit[play]
        return float(self.shift[k])




def write_plays(out: Path, policies: list[tuple[Account, PlayPolicy]], grid: Grid) -> int:
    """Write `interventions.parquet` (the contract table) and the two truth files; returns interventions.

    The CSM of every intervention is the account's owner (`accounts.csm_id`); `outcome` is "done".
    """
    iv = [(a.account_id, ts, q, f"CSM{a.csm:03d}") for a, pol in policies for ts, q in pol.interventions]
    pq.write_table(pa.table({
        "account_id": pa.array([r[0] for r in iv], pa.string()),
        "ts": pa.array(np.array([r[1] for r in iv], np.int64), pa.timestamp("us")),
        "play": pa.array([r[2] for r in iv], pa.string()),
        "csm_id": pa.array([r[3] for r in iv], pa.string()),
        "outcome": pa.array(["done"] * len(iv), pa.string()),
    }), out / "interventions.parquet", compression="zstd")
    asg = [(a.account_id, f"CSM{a.csm:03d}", *row) for a, pol in policies for row in pol.assignments]
    pq.write_table(pa.table({
        "account_id": pa.array([r[0] for r in asg], pa.string()),
        "csm_id": pa.array([r[1] for r in asg], pa.string()),
        "month": pa.array(grid.month_starts[[r[2] for r in asg]].astype(np.int32), pa.date32()),
        "decided_at": pa.array(np.array([r[3] for r in asg], np.int64), pa.timestamp("us")),
        "play": pa.array([r[4] for r in asg], pa.string()),
        "held_out": pa.array([r[5] for r in asg], pa.bool_()),
    }), out / ASSIGNMENTS_FILE, compression="zstd")
    eff = [(a.account_id, *row) for a, pol in policies for row in pol.effects]
    p0 = np.array([r[3] for r in eff], float)
    p1 = np.array([r[4] for r in eff], float)
    pq.write_table(pa.table({
        "account_id": pa.array([r[0] for r in eff], pa.string()),
        "month": pa.array(grid.month_starts[[r[1] for r in eff]].astype(np.int32), pa.date32()),
        "play": pa.array([r[2] for r in eff], pa.string()),
        "p_churn_untreated": pa.array(p0, pa.float64()),
        "p_churn_treated": pa.array(p1, pa.float64()),
        "effect": pa.array(p0 - p1, pa.float64()),
        "responds": pa.array([r[5] for r in eff], pa.bool_()),
    }), out / EFFECTS_FILE, compression="zstd")
    return len(iv)


__all__ = ["ASSIGNMENTS_FILE", "EFFECTS_FILE", "PLAYS", "PlayPolicy", "PlaySimParams", "plays_rng", "write_plays"]
