"""The score table's JSON columns for many rows at once, text for text what `orjson.dumps` gives row by row.

Per row, `reasons_column` equals `orjson.dumps([r.to_dict() for r in reasons])` and `records_column` equals
`orjson.dumps(dict(zip(keys, row)))` (NaN as null); tests check both against those on random inputs. Numbers
are written by one `orjson.dumps` of a whole column, rounded by `round_half_even` (Python's `round`, vectorised),
and a column's fragments are joined row by row in Arrow: no dict, `Reason`, `dumps` or Python str per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnml.features.units import round_half_even
from churnml.scoring.explain.slots import Batch, ReasonSlots


def _texts(values: np.ndarray, comma: bool = False) -> pa.Array:
    """Each value as orjson writes it (NaN as null; a float64 array is written as its values as Python floats);
    with `comma` each followed by a comma: then cut from the array's text without a Python str per value."""
    values = np.ascontiguousarray(values, dtype="float64")
    if not comma:
        text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return pa.array(text[1:-1].split(",") if len(values) else [], type=pa.string())
    text = orjson.dumps(np.append(values, 0.0), option=orjson.OPT_SERIALIZE_NUMPY)  # one more: each ends in ","
    data = np.frombuffer(text, dtype=np.uint8)[1:-1]
    offsets = np.concatenate([[0], np.flatnonzero(data == ord(","))[:len(values)] + 1]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _quoted(values: np.ndarray) -> pa.Array:
    """Each string as a JSON string (orjson's escaping), each distinct string dumped once."""
    codes, uniques = pd.factorize(values)
    return pa.array([orjson.dumps(v).decode() for v in uniques], type=pa.string()).take(codes)


def _spread(piece: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """`piece` (one text per row of `rows`) as a column of `n` texts, empty elsewhere."""
    at = np.full(n, len(rows))
    at[rows] = np.arange(len(rows))
    return pa.concat_arrays([piece, pa.array([""], type=pa.string())]).take(at)


def _joined(n: int, *parts: Any) -> pd.api.extensions.ExtensionArray:
    """Per row (of `n`), the texts of `parts` (arrow string arrays of one text per row, or constant strings)
    joined, as the score table's `str` column (Arrow's row-wise join: no Python str per row)."""
    text = pc.binary_join_element_wise(pa.array([""] * n, type=pa.string()), *parts, "").cast(pa.large_string())
    return pd.array(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def reasons_column(batch: Batch, slots: ReasonSlots, searched: int | None = None) -> pd.api.extensions.ExtensionArray:
    """Per row, the JSON list of its reasons in `slots` (`Reason.to_dict` each); rows in `batch.searched` take
    their reasons from there instead (`searched=0` drivers, 1 protective; None: no row is searched)."""
    n, k = slots.unit.shape
    dumps = orjson.dumps
    head = [f'{{"feature":{dumps(f).decode()},"theme":{dumps(t).decode()},"contribution":'
            for f, t in zip(batch.features, batch.unit_themes, strict=True)]
    tail = pa.array([f',"features":{dumps(list(m or (f,))).decode()}}}'
                     for f, m in zip(batch.features, batch.members, strict=True)], type=pa.string())
    valid = slots.valid.copy()
    if searched is not None and batch.searched:
        valid[list(batch.searched)] = False
    columns: list[Any] = ["["]
    for j in range(k):
        rows = np.flatnonzero(valid[:, j])
        units = slots.unit[rows, j]
        piece = pc.binary_join_element_wise(
            pa.array(head if j == 0 else ["," + h for h in head], type=pa.string()).take(units),
            _texts(round_half_even(slots.contribution[rows, j], 6), comma=True), '"points":',
            _texts(round_half_even(slots.points[rows, j], 4), comma=True), '"sentence":',
            _quoted(slots.sentence[rows, j]),
            tail.take(units), "")
        columns.append(_spread(piece, rows, n))
    if searched is not None and batch.searched:
        rows = np.fromiter(batch.searched, dtype=np.int64, count=len(batch.searched))
        texts = [dumps([r.to_dict() for r in batch.searched[i][searched]]).decode()[1:-1] for i in rows.tolist()]
        columns.append(_spread(pa.array(texts, type=pa.string()), rows, n))
    return _joined(n, *columns, "]")


def records_column(keys: Sequence[str], matrix: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Per row of `matrix` (rows × keys, float64), the JSON object {key: value} (NaN as null)."""
    parts: list[Any] = []
    for j, key in enumerate(keys):  # each value but the last carries the comma before the next key
        parts += [("{" if j == 0 else "") + orjson.dumps(key).decode() + ":",
                  _texts(matrix[:, j], comma=j < len(keys) - 1)]
    return _joined(len(matrix), *parts, "}") if parts else _joined(len(matrix), "{}")
