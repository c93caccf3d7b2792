"""The BG/NBD fit recovers the parameters of data simulated from a BG/NBD process; predictions behave."""

from __future__ import annotations

import numpy as np
import pytest

from churnml.features import bgnbd


def simulate(n: int, r: float, alpha: float, a: float, b: float, T: np.ndarray,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x, t_x) of customers observed for T: Poisson(λ) purchases while alive, death w.p. p after each."""
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while (t := t + rng.exponential(1 / lam[i])) <= T[i]:
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    return x, t_x


def test_fit_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(1)
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}  # near Fader, Hardie & Lee's CDNOW estimates (weeks)
    T = rng.uniform(30, 40, 4000)
    x, t_x = simulate(4000, *truth.values(), T, rng)
    got = bgnbd.fit(x, t_x, T)
    assert got.converged
    for name, want in truth.items():
        assert getattr(got, name) == pytest.approx(want, rel=0.3), name
    # ... and the time unit is immaterial: days instead of weeks scale alpha only.
    in_days = bgnbd.fit(x, t_x * 7, T * 7)
    assert in_days.alpha == pytest.approx(got.alpha * 7, rel=1e-3) and in_days.r == pytest.approx(got.r, rel=1e-3)


def test_fit_is_a_pure_function_of_the_summary() -> None:
    rng = np.random.default_rng(2)
    T = rng.uniform(5, 50, 300)
    x, t_x = simulate(300, 0.5, 3.0, 1.0, 3.0, T, rng)
    order = rng.permutation(300)
    assert bgnbd.fit(x, t_x, T) == bgnbd.fit(x[order], t_x[order], T[order])


def test_p_alive_falls_with_silence_and_expected_activity_with_it() -> None:
    params = bgnbd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
    T = np.arange(12.0, 120.0, 4.0)
    x, t_x = np.full_like(T, 5.0), np.full_like(T, 10.0)
    alive = bgnbd.p_alive(params, x, t_x, T)
    assert np.all(np.diff(alive) < 0) and alive[0] > 0.5 and alive[-1] < 0.05
    expected = bgnbd.expected_transactions(params, 13.0, x, t_x, T)
    assert np.all(np.diff(expected) < 0) and np.all(expected > 0)
    # No repeat purchase yet: alive by the model's definition; more past purchases, more expected ones.
    assert bgnbd.p_alive(params, np.array([0.0]), np.array([0.0]), np.array([30.0]))[0] == 1.0
    more = bgnbd.expected_transactions(params, 13.0, np.array([1.0, 8.0]), np.array([29.0, 29.0]), np.array([30.0] * 2))
    assert more[1] > more[0]


def test_expected_transactions_match_a_monte_carlo_draw() -> None:
    """E[Y(t) | x, t_x, T] against simulation from the posterior by rejection on the observed summary."""
    rng = np.random.default_rng(3)
    params = bgnbd.BgNbdParams(r=2.0, alpha=10.0, a=1.5, b=3.0)
    n, T, t = 400_000, 10.0, 5.0
    early, late = simulate_vectorised(n, params, T, T + t, rng)
    want = late[early == 0].mean()  # customers with no repeat purchase by T: x = 0, t_x = 0
    got = bgnbd.expected_transactions(params, t, np.array([0.0]), np.array([0.0]), np.array([T]))[0]
    assert got == pytest.approx(want, rel=0.05)


def simulate_vectorised(n: int, p: bgnbd.BgNbdParams, T: float, horizon: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Repeat purchases in (0, T] and in (T, horizon] per customer (first purchase at 0), vectorised."""
    lam, drop = rng.gamma(p.r, 1 / p.alpha, n), rng.beta(p.a, p.b, n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    early, late = np.zeros(n), np.zeros(n)
    while alive.any():
        t[alive] += rng.exponential(1 / lam[alive])
        alive &= t <= horizon
        early += alive & (t <= T)
        late += alive & (t > T)
        alive &= rng.random(n) >= drop
    return early, late


def test_fit_refuses_impossible_summaries() -> None:
    with pytest.raises(ValueError, match="no customers"):
        bgnbd.fit(np.array([]), np.array([]), np.array([]))
    with pytest.raises(ValueError, match="t_x <= T"):
        bgnbd.fit(np.array([2.0]), np.array([5.0]), np.array([3.0]))


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    T = rng.uniform(1, 20, 50)
    x = rng.poisson(2, 50).astype(float)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 50), 0.0)
    p = np.log([0.7, 3.0, 1.3, 2.2])
    eps = 1e-6
    numeric = np.column_stack([
        (bgnbd.log_likelihood(p + eps * e, x, t_x, T) - bgnbd.log_likelihood(p - eps * e, x, t_x, T)) / (2 * eps)
        for e in np.eye(4)
    ])
    np.testing.assert_allclose(bgnbd.gradient(p, x, t_x, T), numeric, rtol=1e-5, atol=1e-7)
