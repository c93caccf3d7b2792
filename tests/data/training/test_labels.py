"""Label definitions: contractual with grace periods and censoring, and non-contractual."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from churnml.config import LabelsConfig
from churnml.features.calendar import normalise_dates
from churnml.training.labels import coverage_blocks, labels_expr
from tests.support.tiny_world import subscription_world, to_tables

D = dt.date


def _labels(dfs: dict[str, pd.DataFrame], dates: list[D], cfg: LabelsConfig) -> pd.DataFrame:
    tables = to_tables(dfs)
    df = labels_expr(tables, normalise_dates(dates), cfg).to_pandas()
    return df.set_index("account_id").sort_index()


def test_contractual_grace_bridges_short_lapses_only() -> None:
    subs = [
        ("quick", D(2023, 1, 1), D(2024, 3, 1)),  # back after 10 days: not churn
        ("quick", D(2024, 3, 12), None),
        ("slow", D(2023, 1, 1), D(2024, 3, 1)),  # back after 60 days: churned on Mar 1
        ("slow", D(2024, 5, 1), None),
        ("stays", D(2023, 1, 1), None),
    ]
    out = _labels(subscription_world(subs), [D(2024, 2, 1)], LabelsConfig(horizon_days=90, grace_days=14))
    assert out.loc["quick", "churned"] == False  # noqa: E712 - numpy/pandas booleans
    assert out.loc["slow", "churned"] == True  # noqa: E712
    assert out.loc["slow", "churn_date"] == pd.Timestamp("2024-03-01")
    assert out.loc["stays", "churned"] == False  # noqa: E712


def test_lapse_outside_horizon_is_not_churn() -> None:
    subs = [("later", D(2023, 1, 1), D(2024, 8, 1))]
    out = _labels(subscription_world(subs), [D(2024, 2, 1)], LabelsConfig(horizon_days=90))
    assert out.loc["later", "churned"] == False  # noqa: E712


def test_unobserved_horizon_is_null_not_false() -> None:
    subs = [("open", D(2023, 1, 1), None), ("ends", D(2023, 1, 1), D(2024, 12, 25))]
    out = _labels(subscription_world(subs, last_event="2024-12-31"), [D(2024, 11, 1)], LabelsConfig(horizon_days=90))
    assert out["churned"].isna().all()  # horizon runs past the data; lapse not settled past grace


def test_coverage_blocks_merge_overlaps_and_gaps() -> None:
    subs = [
        ("a", D(2023, 1, 1), D(2023, 6, 30)),
        ("a", D(2023, 3, 1), D(2023, 12, 31)),  # overlaps
        ("a", D(2024, 1, 5), D(2024, 2, 1)),  # 4-day gap, bridged
        ("a", D(2024, 6, 1), None),  # new block
    ]
    tables = to_tables(subscription_world(subs))
    blocks = coverage_blocks(tables["subscriptions"], grace_days=14).to_pandas().sort_values("block_start")
    assert blocks.block_start.tolist() == [pd.Timestamp("2023-01-01"), pd.Timestamp("2024-06-01")]
    assert blocks.block_end.iloc[0] == pd.Timestamp("2024-02-01") and pd.isna(blocks.block_end.iloc[1])


def test_non_contractual_labels() -> None:
    dfs = subscription_world([("x", D(2023, 1, 1), None), ("y", D(2023, 1, 1), None)])
    ev = dfs["events"]
    # y stops using the product on 2024-03-01.
    dfs["events"] = ev[(ev.account_id == "x") | (ev.ts < pd.Timestamp("2024-03-01"))]
    cfg = LabelsConfig(kind="non_contractual", horizon_days=60, lookback_days=30)
    out = _labels(dfs, [D(2024, 3, 10), D(2024, 12, 1)], cfg)
    at = out[out.as_of == pd.Timestamp("2024-03-10")]
    assert at.loc["x", "churned"] == False  # noqa: E712
    assert at.loc["y", "churned"] == True  # noqa: E712
    late = out[out.as_of == pd.Timestamp("2024-12-01")]
    # The horizon runs past the data: unknown for everyone, even x who was seen again (no selection).
    assert late["churned"].isna().all() and "y" not in late.index


def test_labels_are_all_or_nothing_per_as_of_date() -> None:
    """Per as-of date every row is labelled or none is: a partly observed date would select churners."""
    subs = [
        ("a", D(2023, 1, 1), D(2024, 11, 1)),
        ("b", D(2023, 1, 1), None),
        ("c", D(2023, 1, 1), D(2024, 12, 20)),
    ]
    dates = [D(2024, 6, 1) + dt.timedelta(days=7 * i) for i in range(30)]
    out = _labels(subscription_world(subs), dates, LabelsConfig(horizon_days=90, grace_days=14))
    per_date = out.groupby("as_of")["churned"].apply(lambda s: s.isna().mean())
    assert set(per_date.unique()) <= {0.0, 1.0}
    assert (per_date == 0.0).any() and (per_date == 1.0).any()


def test_labels_module_imports_on_its_own() -> None:
    """`import churnml.training.labels` first, in a fresh interpreter, must not hit a circular import."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import churnml.training.labels"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
