"""Uplift as risk × relative effect: each play's shift of the churn log-odds, by its playbook signals, from the holdout.

Why: a play acts on the churn hazard, so what it saves is roughly the account's risk times the play's relative
effect. A T- or X-learner must rediscover the risk from the few hundred randomised decisions and adds their noise
to it; here the risk comes from the churn model (fitted on every account) and only the play's log-odds shift is
learnt, from the randomised decisions alone (the play's routed vs held-out eligible units), with few parameters:

    logit P(churn) = logit r + c_q + g_q·m_q(x)  +  routed · (a + a_q + b_q·s_q(x) + b_r·(logit r - centre))

for the units of play q, where r is the churn model's probability, s_q(x) the playbook signals that trigger the
play (`plays.signals` whose cause maps to it, as 0/1: e.g. NPS ≤ 6 for the executive call) and m_q = (s_q, the
centred logit r). c_q + g_q·m_q recalibrates the churn model on the play's eligible units; the rest is the play's
shift: a shared intercept `a` and risk slope `b_r` (no play saves an account too far gone, or one at no risk),
and each play's own deviation a_q + b_q·s_q. Everything but c_q and `a` carries a ridge penalty, so with few
units a play's shift shrinks towards the plays' common one rather than towards noise (a few hundred randomised
decisions do not tell three plays apart by much). The uplift of an account is r - sigmoid(logit r + shift).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.config import PlaysConfig
from churnml.plays.alerts import OPS


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, with p clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_logistic(x: np.ndarray, y: np.ndarray, offset: np.ndarray, penalty: np.ndarray | float = 0.0,
                 n_iter: int = 100) -> np.ndarray:
    """Coefficients of logit P(y) = offset + x·beta by penalised Newton (ridge `penalty` per column, 0 = none).

    Contract: x (n, k) numeric without NaN, y 0/1; returns beta (k,). Converges on separable data too (the
    step is halved until the penalised likelihood improves).
    """
    x, y, offset = np.asarray(x, float), np.asarray(y, float), np.asarray(offset, float)
    lam = np.broadcast_to(np.asarray(penalty, float), (x.shape[1],))
    beta = np.zeros(x.shape[1])

    def loss(b: np.ndarray) -> float:
        eta = offset + x @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(lam * b * b))

    current = loss(beta)
    for _ in range(n_iter):
        p = 1 / (1 + np.exp(-(offset + x @ beta)))
        grad = x.T @ (p - y) + lam * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(lam) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4 and loss(beta - t * step) > current + 1e-12:
            t /= 2
        beta = beta - t * step
        new = loss(beta)
        if current - new < 1e-10:
            break
        current = new
    return beta


def play_modifiers(cfg: PlaysConfig) -> dict[str, list[tuple[str, str, float]]]:
    """Per play, the (signal, op, value) rules of the causes the playbook maps to it (band and `when` conditions
    dropped)."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for rule in cfg.signals:
        play = cfg.playbook[rule.cause].play
        item = (rule.signal, rule.op, float(rule.value))
        if item not in out.setdefault(play, []):
            out[play].append(item)
    return out


@dataclass
class ShiftLearner:
    """Per-play uplift = risk − risk shifted by the play's fitted log-odds shift (module docstring).

    Attributes:
        modifiers: per play, its signal rules (`play_modifiers`); a play absent here gets the risk term only.
        ridge: penalty on every slope (on 0/1 signals and the centred logit risk).
        min_rows: a play with fewer routed or held-out units is not modelled (no evidence: no uplift column).
    """

    modifiers: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)
    ridge: float = 1.0
    min_rows: int = 20
    centre: float = 0.0
    coef: dict[str, np.ndarray] = field(default_factory=dict)

    def _m(self, q: str, x: pd.DataFrame, lr: np.ndarray) -> np.ndarray:
        cols = []
        for signal, op, value in self.modifiers.get(q, []):
            if signal not in x.columns:
                raise ValueError(f"play {q!r}: effect modifier {signal!r} is not a feature column")
            v = pd.to_numeric(x[signal], errors="coerce").to_numpy(float)
            cols.append(np.where(np.isnan(v), 0.0, OPS[op](v, value).astype(float)))
        cols.append(lr - self.centre)
        return np.column_stack(cols)

    def fit(self, x: pd.DataFrame, play: pd.Series, held_out: np.ndarray, churned: np.ndarray,
            risk: np.ndarray) -> ShiftLearner:
        """Units are randomised eligible decisions: `play` the play each got or would have got (no nulls),
        `held_out` the recorded coin, `churned` the outcome (0/1), `risk` the churn model's probability."""
        held = np.asarray(held_out, dtype=bool)
        y = np.asarray(churned, dtype=float)
        lr = logit(risk)
        if play.isna().any():
            raise ValueError("every unit needs its play (held-out units: the play they would have got)")
        self.centre = float(lr.mean()) if len(lr) else 0.0
        names = [str(q) for q in sorted(play.unique())
                 if ((play == q).to_numpy() & ~held).sum() >= self.min_rows
                 and ((play == q).to_numpy() & held).sum() >= self.min_rows]
        keep = play.isin(names).to_numpy()
        x, play, held, y, lr = x[keep], play[keep], held[keep], y[keep], lr[keep]
        t = (~held).astype(float)
        blocks, pens, where = [t[:, None], (t * (lr - self.centre))[:, None]], [0.0, self.ridge], {}
        for q in names:
            g = (play == q).to_numpy().astype(float)[:, None]
            m = self._m(q, x, lr)  # the play's signals, then the centred logit risk
            k = sum(b.shape[1] for b in blocks)
            blocks += [g, g * m, g * t[:, None], g * t[:, None] * m[:, :-1]]  # calibration, then the play's shift
            pens += [0.0] + [self.ridge] * m.shape[1] + [self.ridge] + [self.ridge] * (m.shape[1] - 1)
            where[q] = (k + 1 + m.shape[1], m.shape[1] - 1)  # start of t·1[q], number of signals
        beta = fit_logistic(np.hstack(blocks), y, lr, np.array(pens)) if names else np.zeros(2)
        self.coef = {q: np.r_[beta[0] + beta[s], beta[s + 1:s + 1 + n], beta[1]] for q, (s, n) in where.items()}
        return self

    def shift(self, x: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
        """Each modelled play's shift of the churn log-odds per row (negative: the play lowers churn)."""
        lr = logit(risk)
        return pd.DataFrame({q: b[0] + self._m(q, x, lr) @ b[1:] for q, b in self.coef.items()}, index=x.index)

    def predict(self, x: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
        """One column per modelled play: churn prevented, risk − sigmoid(logit risk + shift) (negative: harm)."""
        r = np.clip(np.asarray(risk, dtype=float), 1e-6, 1 - 1e-6)
        lr = logit(r)
        return self.shift(x, r).apply(lambda s: r - 1 / (1 + np.exp(-(lr + s.to_numpy()))))
