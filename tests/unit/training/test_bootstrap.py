"""Account bootstrap: resampled metrics equal the plain ones at unit weights; paired differences; wording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.training.bootstrap import METRICS, Rows, _prepare, _weighted, account_counts, backtest_intervals, verdict
from churnml.training.metrics import summarize


def _frame(n: int = 3000, accounts: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = rng.integers(0, accounts, n)
    risk = rng.random(accounts)[acc]
    y = (rng.random(n) < 0.05 + 0.3 * risk).astype(float)
    good = np.clip(0.05 + 0.3 * risk + rng.normal(0, 0.02, n), 0.001, 0.999)
    noise = rng.random(n)
    rows = []
    for name, p in (("good", good), ("noise", noise), ("good_rounded", np.round(good, 2)), ("twin", good)):
        rows.append(pd.DataFrame({"fold": 0, "model": name, "account_id": acc.astype(str), "as_of": np.arange(n),
                                  "y": y, "p": p, "mrr": rng.random(n) * 100 if name == "good" else 0.0}))
    out = pd.concat(rows, ignore_index=True)
    out["mrr"] = np.tile(out.loc[out["model"] == "good", "mrr"].to_numpy(), 4)
    return out


@pytest.mark.parametrize("rounded", [False, True])
def test_unit_weights_reproduce_the_plain_metrics(rounded: bool) -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.2).astype(float)
    p = rng.random(2000)
    p = np.round(p, 1) if rounded else p  # ties share their credit as in scikit-learn
    m = rng.random(2000) * 50
    got = _weighted(_prepare(Rows(y, p, m)), np.ones((1, 2000), dtype=np.float32))
    ref = summarize(y, p, m)
    for k in METRICS:
        assert got[k][0] == pytest.approx(ref[k], abs=1e-5), k


def test_accounts_are_the_resampling_unit() -> None:
    counts, row_account = account_counts(["a", "b", "a", "c", "b"], n_boot=50, seed=3)
    assert counts.shape == (50, 3) and (counts.sum(axis=1) == 3).all()
    assert list(row_account) == [0, 1, 0, 2, 1]  # both rows of "a" always carry the same weight


def test_paired_intervals_and_verdicts() -> None:
    iv = backtest_intervals(_frame(), "good", n_boot=200, seed=0)
    d = iv.differences.set_index(["versus", "metric"])
    assert d.loc[("noise", "roc_auc"), "lo"] > 0
    assert d.loc[("noise", "roc_auc"), "verdict"].startswith("beats noise by")
    assert d.loc[("noise", "log_loss"), "verdict"].startswith("beats noise: log_loss lower by")
    twin = d.loc[("twin", "roc_auc")]
    assert twin["diff"] == 0 and twin["lo"] == 0 and twin["hi"] == 0
    assert twin["verdict"].endswith("not distinguishable")
    m = iv.metrics.set_index(["model", "metric"])
    assert (m["lo"] <= m["value"] + 1e-9).all() and (m["value"] <= m["hi"] + 1e-9).all()
    wide = iv.wide().set_index("model")
    assert {"roc_auc_lo", "roc_auc_hi", "churned_mrr_share_top10_lo"} <= set(wide.columns)


def test_verdict_words_follow_the_interval() -> None:
    assert verdict("roc_auc", 0.005, -0.02, 0.03, "logistic") == \
        "+0.005 vs logistic (-0.020 to +0.030): not distinguishable"
    assert verdict("roc_auc", 0.04, 0.01, 0.07, "logistic") == "beats logistic by 0.040 (+0.010 to +0.070)"
    assert verdict("roc_auc", -0.04, -0.07, -0.01, "oracle").startswith("trails oracle by 0.040")
    assert verdict("brier", 0.01, 0.002, 0.02, "rfm") == "trails rfm: brier higher by 0.010 (+0.002 to +0.020)"
