"""Exact TreeSHAP for many rows: LightGBM's own `pred_contrib`, once per distinct decision pattern of each tree.

Path-dependent TreeSHAP (what `Booster.predict(..., pred_contrib=True)` computes) sees a row only through the
side it takes at every split of a tree: two rows that agree on every split of tree *t* get the same
contributions from *t*. A tree of 15 leaves has 14 splits, so 100,000 accounts fall into a few hundred or
thousand patterns per tree. `PatternContributions` computes each tree's decisions for every row with NumPy
(LightGBM's rules: `<=` against the threshold, missing values by `missing_type` and `default_left`,
categorical splits by their category sets), asks LightGBM for the contributions of one representative row per
pattern and tree (`start_iteration=t, num_iteration=1`), and adds them up. The numbers are LightGBM's; only
the order of the additions across trees differs (differences ~1e-16; tests check 1e-9 against
`Booster.predict` on rows with missing values, zeros, unseen and negative categories).

As a guard, every row's contributions must still add up to the booster's raw margin; rows that do not (a
decision computed differently from LightGBM's, which the tests rule out) are recomputed by `pred_contrib`.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

_ZERO = 1e-35  # LightGBM's kZeroThreshold
_MAX_SPLITS = 62  # a tree's pattern must fit an int64 key


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    default_left: bool
    missing: str  # "None", "Zero" or "NaN"
    categories: np.ndarray | None  # categorical split: the categories going left


@dataclass(frozen=True)
class _Tree:
    index: int
    splits: tuple[_Split, ...]
    features: np.ndarray  # columns this tree can contribute to


def _parse(node: dict[str, Any], out: list[_Split]) -> None:
    if "split_index" not in node:
        return
    cats = None
    if node["decision_type"] == "==":
        cats = np.array([int(c) for c in str(node["threshold"]).split("||")], dtype=np.int64)
    out.append(_Split(int(node["split_feature"]), float(node["threshold"]) if cats is None else np.nan,
                      bool(node["default_left"]), str(node["missing_type"]), cats))
    _parse(node["left_child"], out)
    _parse(node["right_child"], out)


def _goes_left(split: _Split, column: np.ndarray, nan: np.ndarray | None = None) -> np.ndarray:
    """LightGBM's decision (`Tree::NumericalDecision` / `CategoricalDecision`) for a whole column (`nan`: its
    missing values, when already known). A missing value counts as 0.0 unless the missing type is "NaN"."""
    nan = np.isnan(column) if nan is None else nan
    if split.categories is not None:
        whole = np.where(nan, -1, np.trunc(np.where(nan, -1, column))).astype(np.int64)
        return (whole >= 0) & np.isin(whole, split.categories)
    if split.missing == "Zero":
        missing = nan | (np.abs(column) <= _ZERO)
    elif split.missing == "NaN":
        missing = nan
    else:
        return np.where(nan, split.threshold >= 0.0, column <= split.threshold)
    return np.where(missing, split.default_left, column <= split.threshold)


class PatternContributions:
    """`Booster.predict(X, pred_contrib=True, num_iteration=n)` computed per distinct decision pattern.

    Args:
        booster: the fitted `lightgbm.Booster`.
        num_iteration: trees used (the model's best iteration).
        threads: threads finding the trees' patterns (the results do not depend on it).

    `supported` is False when a tree has more splits than a pattern key holds; callers then use
    `pred_contrib` directly.
    """

    def __init__(self, booster: Any, num_iteration: int, threads: int = 1) -> None:
        self._booster = booster
        self.threads = max(1, threads)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle.put(booster)
        for _ in range(self.threads - 1):  # copies for the other threads (a small model: its text)
            self._idle.put(type(booster)(model_str=booster.model_to_string(num_iteration=num_iteration)))
        self._n = num_iteration
        self.ncol = booster.num_feature()
        info = booster.dump_model(num_iteration=num_iteration)["tree_info"]
        trees = []
        for t in info[:num_iteration]:
            splits: list[_Split] = []
            _parse(t["tree_structure"], splits)
            used = sorted({s.feature for s in splits})
            trees.append(_Tree(int(t["tree_index"]), tuple(splits), np.array([*used, self.ncol], dtype=np.int64)))
        self._trees = trees
        self.supported = all(len(t.splits) <= _MAX_SPLITS for t in trees)

    def _keys(self, tree: _Tree, columns: np.ndarray, nans: np.ndarray | None = None) -> np.ndarray:
        key = np.zeros(columns.shape[1], dtype=np.int64)
        for bit, split in enumerate(tree.splits):
            nan = None if nans is None else nans[split.feature]
            key |= _goes_left(split, columns[split.feature], nan).astype(np.int64) << bit
        return key

    def __call__(self, matrix: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """Contributions (n, features + 1; base value last) of the rows of the model matrix `matrix`.

        Args:
            matrix: rows in the booster's feature order (float64).
            raw: the booster's raw margins of those rows, for the additivity guard (computed when omitted).
        """
        columns = np.ascontiguousarray(matrix.T)  # one contiguous array per feature
        out = np.zeros((self.ncol + 1, len(matrix)))  # transposed: one contiguous array per output column
        nans = np.isnan(columns)  # once per feature, not per split

        def per_tree(tree: _Tree) -> tuple[np.ndarray, np.ndarray]:
            first, inverse = _patterns(self._keys(tree, columns, nans), len(tree.splits))
            booster = self._idle.get()  # one booster per thread: a LightGBM predict sets the booster's
            try:                        # iteration range, so two calls on one booster must not overlap
                return booster.predict(matrix[first], pred_contrib=True, start_iteration=tree.index,
                                       num_iteration=1), inverse
            finally:
                self._idle.put(booster)

        # Trees' patterns are found in `threads` threads (numpy and LightGBM release the GIL) and added here in
        # tree order: the same sums, in the same order, as one thread gives.
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for tree, (per_pattern, inverse) in zip(self._trees, pool.map(per_tree, self._trees), strict=True):
                for c in tree.features:
                    out[c] += per_pattern[:, c].take(inverse)
        out = np.ascontiguousarray(out.T)
        if raw is None:
            raw = self._booster.predict(matrix, raw_score=True, num_iteration=self._n)
        bad = np.flatnonzero(np.abs(out.sum(axis=1) - raw) > 1e-9 * np.maximum(1.0, np.abs(raw)))
        if len(bad):
            out[bad] = self._booster.predict(matrix[bad], pred_contrib=True, num_iteration=self._n)
        return out


def _patterns(keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct key and, per row, its key's position among them (`np.unique`'s
    `return_index` / `return_inverse`), by a table of all 2**bits keys when that is small (no sort)."""
    if bits > 20:
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return first, inverse
    first_of = np.full(1 << bits, len(keys), dtype=np.int64)
    np.minimum.at(first_of, keys, np.arange(len(keys)))
    present = first_of < len(keys)
    rank = np.cumsum(present) - 1
    return first_of[present], rank[keys]
