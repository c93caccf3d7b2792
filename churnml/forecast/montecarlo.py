"""Monte Carlo draws of a portfolio's revenue at the horizon from the calibrated outcome probabilities.

Per draw, every segment gets one shared logit shift per outcome, z = a + b_segment ~ N(0, σ²_outcome), a
common to all segments (share `shared` of σ²) and b the segment's own (σ and the share from
`churnml.forecast.dispersion`): accounts of a segment are not independent, nor are segments of one date, and
without it the intervals of a large segment or of the whole portfolio would be far too narrow. Shifted
probabilities of churn, contraction and expansion (mutually exclusive outcomes; contraction and expansion
are scaled down if the three sum past 1; the logits are stretched so each account's mean probability over
draws stays its calibrated one) pick each account's outcome with one uniform; the size of a contraction or
expansion (and of the drift of accounts that do neither) is drawn from the segment's empirical ratio
quantiles. Churn sets MRR to 0.

Everything is vectorised over (draws × accounts), in chunks of draws so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from churnml.forecast.params import ForecastParams

OUTCOME_ORDER: tuple[str, ...] = ("churned", "contracted", "expanded")
_CELLS_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class Portfolio:
    """The accounts a forecast is for.

    Attributes:
        mrr: MRR today per account (n,).
        p: calibrated probabilities (n, 3) of churn, contraction, expansion (`OUTCOME_ORDER`).
        segment: segment code per account (n,), indexes `segments`.
        segments: segment names (random-effect groups and amount tables).
    """

    mrr: np.ndarray
    p: np.ndarray
    segment: np.ndarray
    segments: list[str]

    def __post_init__(self) -> None:
        n = len(self.mrr)
        if self.p.shape != (n, len(OUTCOME_ORDER)) or len(self.segment) != n:
            raise ValueError(f"portfolio arrays disagree: mrr {n}, p {self.p.shape}, segment {len(self.segment)}")
        if np.isnan(self.p).any() or np.isnan(self.mrr).any():
            raise ValueError("portfolio has missing probabilities or MRR")


def _coherent(q: np.ndarray) -> np.ndarray:
    """Scale contraction and expansion down where churn + contraction + expansion would exceed 1."""
    pc, rest = q[..., 0], q[..., 1] + q[..., 2]
    scale = np.minimum(1.0, (1.0 - pc) / np.maximum(rest, 1e-12))
    return np.stack([pc, q[..., 1] * scale, q[..., 2] * scale], axis=-1)


def expected_mrr(portfolio: Portfolio, params: ForecastParams) -> tuple[np.ndarray, np.ndarray]:
    """Expected MRR at the horizon and expected gross MRR kept (no growth counted), per account."""
    q = _coherent(portfolio.p)
    ratio = params.mean_ratio(portfolio.segments)[portfolio.segment]  # (n, 3): stay, contract, expand
    quant = params.quantile_table(portfolio.segments)[portfolio.segment]
    capped = ((np.minimum(quant[..., 1:], 1) + np.minimum(quant[..., :-1], 1)) / 2).mean(axis=-1)
    stay = 1.0 - q.sum(axis=1)
    net = stay * ratio[:, 0] + q[:, 1] * ratio[:, 1] + q[:, 2] * ratio[:, 2]
    gross = stay * capped[:, 0] + q[:, 1] * capped[:, 1] + q[:, 2] * capped[:, 2]
    return portfolio.mrr * net, portfolio.mrr * gross


def draw_revenue(
    portfolio: Portfolio, params: ForecastParams, groups: np.ndarray, draws: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gross kept and net MRR at the horizon per draw and group.

    Args:
        portfolio: the accounts.
        params: amounts and σ.
        groups: (n, G) 0/1 membership of accounts in the reported groups (a column may be every account).
        draws: number of draws.
        seed: random seed (same seed, same draws).

    Returns:
        (gross, net), each (draws, G): Σ min(MRR at horizon, MRR today) and Σ MRR at horizon per group.
    """
    rng = np.random.default_rng(seed)
    n = len(portfolio.mrr)
    sigma = np.array([params.sigma.get(o, 0.0) for o in OUTCOME_ORDER])
    shared = np.clip([params.shared.get(o, 0.0) for o in OUTCOME_ORDER], 0.0, 1.0)
    # A mean-zero logit shift raises small probabilities on average (Jensen); stretching the logit by the
    # probit approximation's factor keeps each account's mean probability at its calibrated value.
    base = logit(np.clip(portfolio.p, 1e-6, 1 - 1e-6)) * np.sqrt(1 + np.pi * sigma**2 / 8)
    table = params.quantile_table(portfolio.segments)
    k = table.shape[-1] - 1
    flat_table = table.ravel()
    seg = portfolio.segment
    seg_offset = (seg * len(OUTCOME_ORDER) * (k + 1))[None, :]
    g = groups.astype(float)
    gross_out, net_out = [], []
    chunk = max(1, _CELLS_PER_CHUNK // max(n, 1))
    for start in range(0, draws, chunk):
        d = min(chunk, draws - start)
        common = rng.normal(size=(d, 1, len(OUTCOME_ORDER))) * np.sqrt(shared)
        own = rng.normal(size=(d, len(portfolio.segments), len(OUTCOME_ORDER))) * np.sqrt(1 - shared)
        shift = (common + own) * sigma
        pc, pk, pe = (expit(base[:, i][None, :] + shift[:, seg, i]) for i in range(len(OUTCOME_ORDER)))
        scale = np.minimum(1.0, (1.0 - pc) / np.maximum(pk + pe, 1e-12))
        u = rng.random((d, n))
        e1 = pc + pk * scale
        cls = np.where(u < e1, 1, np.where(u < e1 + pe * scale, 2, 0))  # churners (u < pc) are zeroed below
        pos = rng.random((d, n)) * k
        lo = np.minimum(pos.astype(np.int64), k - 1)
        idx = seg_offset + cls * (k + 1) + lo
        frac = pos - lo
        value = (flat_table[idx] * (1 - frac) + flat_table[idx + 1] * frac) * portfolio.mrr
        value[u < pc] = 0.0
        gross_out.append(np.minimum(value, portfolio.mrr) @ g)
        net_out.append(value @ g)
    return np.concatenate(gross_out), np.concatenate(net_out)
