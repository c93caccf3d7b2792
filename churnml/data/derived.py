"""What validation derives from clean tables: the default `accounts.created_at` and repeated event rows.

Pure Ibis expressions over the validated (canonically typed) tables; `churnml.data.validate` calls them after
its checks and reports what they did (a note for a filled column, a warning for repeated rows).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir


def fill_created_at(
    accounts: ir.Table, subscriptions: ir.Table | None, events: ir.Table | None
) -> tuple[ir.Table, str]:
    """`accounts` with a `created_at` column: the first subscription start, else the first event.

    An account with neither gets a null `created_at`; it joins no population (it never did anything).
    The column goes right after `account_id`, as in the contract.

    Returns:
        The table and how it was filled, in words, for the validation report.
    """
    firsts: list[tuple[ir.Table, str]] = []
    if subscriptions is not None:
        firsts.append((subscriptions.group_by("account_id").aggregate(
            _first=subscriptions.start_date.min().cast("timestamp")), "the first subscription start"))
    if events is not None:
        firsts.append((events.group_by("account_id").aggregate(
            _first=events.ts.min().cast("timestamp")), "the first event"))
    if not firsts:
        filled = accounts.mutate(created_at=ibis.null("timestamp"))
        return _ordered(filled, accounts), "no subscriptions or events to take it from: left empty"
    out, values = accounts, []
    for i, (first, _) in enumerate(firsts):
        first = first.rename({f"_k{i}": "account_id", f"_f{i}": "_first"})
        out = out.left_join(first, out.account_id == first[f"_k{i}"]).drop(f"_k{i}")
        values.append(out[f"_f{i}"])
    filled = out.mutate(created_at=ibis.coalesce(*values)).drop(*[f"_f{i}" for i in range(len(firsts))])
    how = "filled with " + ", else ".join(what for _, what in firsts)
    return _ordered(filled, accounts), how


def _ordered(filled: ir.Table, accounts: ir.Table) -> ir.Table:
    rest = [c for c in accounts.columns if c != "account_id"]
    return filled.select("account_id", "created_at", *rest)


def repeated_rows(t: ir.Table, n_examples: int) -> tuple[int, list[dict[str, Any]]]:
    """Rows of `t` equal in every column to an earlier one, and a few such rows with their number of copies.

    Returns:
        (rows beyond the first copy of each, examples as dicts with `_copies`); (0, []) when none.
    """
    cols = list(t.columns)
    # Equal rows hash equally, so as many distinct row hashes as rows proves there are no repeats, exactly;
    # counting distinct values of one integer is cheaper than DISTINCT over every column (strings hashed and
    # compared), and the exact DISTINCT is run only when some hashes coincide (a repeat, or a collision).
    row_hash = ibis.struct({c: t[c] for c in cols}).hash()
    first = t.aggregate(n=t.count(), n_hash=row_hash.nunique()).to_pyarrow().to_pylist()[0]
    n_rows = int(first["n"])
    if int(first["n_hash"]) == n_rows:
        return 0, []
    n_rep = n_rows - int(t.distinct().count().execute())
    if not n_rep:
        return 0, []
    groups = t.group_by(cols).aggregate(_copies=t.count())
    order = [c for c in ("account_id", "ts") if c in cols] or cols[:1]
    examples = groups.filter(groups._copies > 1).order_by(order).limit(n_examples).to_pyarrow().to_pylist()
    return n_rep, examples
