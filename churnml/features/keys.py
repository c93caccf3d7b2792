"""The feature table's key and the one join used to attach feature blocks to the population spine."""

from __future__ import annotations

from collections.abc import Sequence

import ibis

KEYS: list[str] = ["account_id", "as_of"]


def attach(left: ibis.Table, right: ibis.Table, keys: str | Sequence[str] = tuple(KEYS)) -> ibis.Table:
    """Left join `right` onto `left` on `keys`, keeping one copy of the keys (the left one).

    Every spine row survives; rows without a match get nulls, which each block then turns into 0 for
    counts or leaves missing for measurements.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    j = left.join(right, keys, how="left", rname="{name}__r")
    return j.drop(*[f"{k}__r" for k in keys if f"{k}__r" in j.columns])
