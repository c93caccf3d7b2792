"""Risk bands, pure: which accounts are low, medium or high risk, by the rule `scoring.bands.rule` names.

Fixed probabilities mean nothing across businesses: with a base rate of 80%, a 25% "high" threshold makes
everyone high risk. So the default rule is relative to the data:

- **relative**: the base rate is the mean calibrated probability of the accounts scored together (the expected
  churn rate of this population over the horizon; the model stores no training base rate, and the population's
  is the one that moves with the business). Medium from `relative.medium` (1.5) times the base rate's odds, high
  from `relative.high` (3) times. On the odds scale the edges stay below 100% at any base rate, and for the small
  base rates of subscription businesses they are the same multiples of the rate itself (4% base: 5.9%, 11.1%).
- **capacity**: high is exactly the `capacity.accounts` riskiest accounts (ties broken by MRR, then account id),
  or the riskiest accounts whose MRR together first reaches `capacity.mrr_share` of the scored MRR — what a CS
  team can work in a week. Medium is the relative rule's among the rest.
- **absolute**: the fixed probabilities `medium` and `high`.

Every scoring records the edges it used (`BandCut`, JSON in the score table's `band_rule` column), so one account
scored later on its own (`churnml score --account`, the API) is banded by the same edges as its population.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from churnml.config import RiskBands


@dataclass(frozen=True)
class BandCut:
    """The probability edges one scoring used, and the rule that made them.

    Attributes:
        rule: relative | capacity | absolute.
        medium / high: probabilities from which an account is medium / high risk (for capacity, `high` is the
            lowest probability in the high band; membership there is by rank, so exactly K accounts).
        base_rate: the population's mean probability (None for absolute).
        capacity: for capacity, what was worked: "50 accounts" or "20% of MRR".
    """

    rule: str
    medium: float
    high: float
    base_rate: float | None = None
    capacity: str | None = None

    def describe(self) -> str:
        """One line for people: 'relative to base rate 4.1%: medium ≥ 6.0%, high ≥ 11.4%'."""
        edges = f"medium ≥ {self.medium:.1%}, high ≥ {self.high:.1%}"
        if self.rule == "absolute":
            return f"absolute thresholds: {edges}"
        base = f"base rate {self.base_rate:.1%}" if self.base_rate is not None else "base rate unknown"
        if self.rule == "capacity":
            return f"capacity: high = the riskiest {self.capacity} (≥ {self.high:.1%}); medium ≥ {self.medium:.1%} " \
                   f"(relative to {base})"
        return f"relative to {base}: {edges}"

    def assign(self, probability: Any) -> np.ndarray:
        """Band names by these edges alone (for accounts scored apart from the population that made them)."""
        p = np.asarray(probability, dtype=float)
        return np.where(p >= self.high, "high", np.where(p >= self.medium, "medium", "low")).astype(object)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> BandCut | None:
        """The cut stored with a scoring, or None for rows scored before bands were recorded."""
        if not text or not isinstance(text, str):
            return None
        return cls(**json.loads(text))


def _odds_multiple(base: float, multiple: float) -> float:
    """The probability whose odds are `multiple` times those of `base`."""
    base = min(max(base, 1e-9), 1 - 1e-9)
    odds = multiple * base / (1 - base)
    return odds / (1 + odds)


def relative_cut(config: RiskBands, base_rate: float) -> BandCut:
    """Edges at `config.relative` multiples of the base rate's odds."""
    rel = config.relative
    return BandCut("relative", _odds_multiple(base_rate, rel.medium), _odds_multiple(base_rate, rel.high),
                   base_rate=float(base_rate))


def _capacity_high(config: RiskBands, p: np.ndarray, mrr: np.ndarray | None,
                   ids: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Mask of the high band under the capacity rule, and what it holds in words."""
    cap = config.capacity
    assert cap is not None  # RiskBands refuses rule: capacity without it
    money = np.nan_to_num(np.asarray(mrr, dtype=float)) if mrr is not None else np.zeros(len(p))
    # lexsort sorts by its last key first: probability descending, then MRR descending, then id ascending
    keys = (-money, -p) if ids is None else (ids.astype(str), -money, -p)
    order = np.lexsort(keys)
    high = np.zeros(len(p), dtype=bool)
    if cap.accounts is not None:
        high[order[: cap.accounts]] = True
        return high, f"{cap.accounts:,} accounts"
    total = money.sum()
    if total > 0:
        reached = np.cumsum(money[order]) >= cap.mrr_share * total - 1e-9
        k = int(np.argmax(reached)) + 1
        high[order[:k]] = True
    return high, f"{cap.mrr_share:.0%} of MRR"


def band_accounts(config: RiskBands, probability: Any, mrr: Any = None,
                  account_ids: Any = None) -> tuple[np.ndarray, BandCut]:
    """Band names for a scored population (one as-of date) and the cut that made them.

    Args:
        config: `scoring.bands`.
        probability: calibrated churn probabilities of every account scored together.
        mrr: their MRR (capacity by `mrr_share`; also breaks ties in the capacity ranking).
        account_ids: break the last ties, so the same inputs give the same K accounts.
    """
    p = np.asarray(probability, dtype=float)
    if config.rule == "absolute" or len(p) == 0:
        cut = BandCut("absolute", config.medium, config.high)
        return cut.assign(p), cut
    base = float(np.mean(np.sort(p)))  # sorted: the same edges whatever the row order (Spark partitions)
    rel = relative_cut(config, base)
    if config.rule == "relative":
        return rel.assign(p), rel
    m = None if mrr is None else np.asarray(mrr, dtype=float)
    ids = None if account_ids is None else np.asarray(account_ids)
    high, held = _capacity_high(config, p, m, ids)
    bands = np.where(high, "high", np.where(p >= rel.medium, "medium", "low")).astype(object)
    lowest_high = float(p[high].min()) if high.any() else 1.0
    return bands, BandCut("capacity", rel.medium, lowest_high, base_rate=base, capacity=held)
