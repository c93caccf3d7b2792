"""Turning a mapping into DuckDB SQL: one SELECT per target table, built from checked pieces.

Pure string building plus one parser check. Identifiers are always double-quoted and literals escaped;
user SQL (`expr`, `where`, `sql`) is accepted only if DuckDB's own parser reads it as a single SELECT with
no sub-query inside an expression (`check_expression`), so a mapping cannot drop, attach, copy or write.

Converted columns come out as text on purpose: a value the conversion could not handle stays as it was
(e.g. "31/02/2024" under format %d/%m/%Y, or "Maybe" under a Yes/No map), and `churnml.data.validate` then
rejects that row for `bad_type`, naming the table, column, row and value, instead of the importer turning
it silently into a null.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from churnml.data.contract import ColumnKind
from churnml.importer.mapping import ColumnMap, TableMap


class MappingError(ValueError):
    """The mapping does not fit the source (unknown table or column, unsafe or broken SQL)."""


_OUT_FORMAT = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%d %H:%M:%S"}
_SQL_TYPE: dict[str, str] = {
    "id": "VARCHAR", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE",
    "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN",
}


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal for a YAML scalar (None → NULL, bools → TRUE/FALSE, text quoted)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def text_literal(value: Any) -> str:
    """A value as a text literal, the way a cast to the target type reads it back ("true", "12.5")."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    return literal(str(value))


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _parse(select: str) -> dict[str, Any]:
    con = duckdb.connect()
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [select]).fetchone()[0]
    finally:
        con.close()
    tree = json.loads(raw)
    if tree.get("error"):
        raise MappingError(f"not a valid SELECT: {tree.get('error_message')}: {select}")
    if len(tree["statements"]) != 1:
        raise MappingError(f"one statement only: {select}")
    return tree


def check_expression(expr: str, what: str) -> None:
    """Refuse anything but one scalar SQL expression (no `;`, no sub-query, no table function).

    Raises:
        MappingError: naming `what` (e.g. "accounts.mrr expr").
    """
    try:
        tree = _parse(f"SELECT ({expr}) FROM _t")
    except MappingError as exc:
        raise MappingError(f"{what}: {exc}") from None
    node = tree["statements"][0]["node"]
    if any(n.get("class") == "SUBQUERY" for n in _walk(node["select_list"])):
        raise MappingError(f"{what}: sub-queries are not allowed in an expression: {expr}")
    if node.get("from_table", {}).get("table_name") != "_t":
        raise MappingError(f"{what}: must be a single expression: {expr}")


def query_tables(sql: str, what: str) -> list[str]:
    """Tables a mapping's `sql:` SELECT reads (so only those are loaded from a database).

    Raises:
        MappingError: not a single SELECT, or it calls a table function (reading files directly).
    """
    tree = _parse(sql)
    names, ctes = [], set()
    for n in _walk(tree):
        if isinstance(n.get("cte_map"), dict):
            ctes |= {m["key"] for m in n["cte_map"].get("map", []) if isinstance(m, dict) and "key" in m}
        if n.get("type") == "TABLE_FUNCTION":
            raise MappingError(f"{what}: table functions are not allowed; read sources through the mapping")
        if n.get("type") == "BASE_TABLE" and n.get("table_name"):
            names.append(n["table_name"])
    return [t for t in dict.fromkeys(names) if t not in ctes]


def _base(cm: ColumnMap) -> str:
    if cm.column is not None:
        return ident(cm.column)
    if cm.expr is not None:
        return f"({cm.expr})"
    return literal(cm.value)


def _text(x: str) -> str:
    return f"trim(CAST({x} AS VARCHAR))"


def column_sql(cm: ColumnMap, kind: ColumnKind | None) -> str:
    """SQL for one target column: base value, then missing values, value map and format, in that order.

    Args:
        cm: the column's mapping.
        kind: target type; with a format, dates and timestamps are written as ISO text.
    """
    x = _base(cm)
    if cm.null_if:
        values = ", ".join(literal(v) for v in cm.null_if)
        x = f"CASE WHEN {_text(x)} IN ({values}) THEN NULL ELSE {x} END"
    if cm.map is not None:
        whens = " ".join(f"WHEN {literal(k)} THEN {text_literal(v)}" for k, v in cm.map.items())
        other = text_literal(cm.default) if cm.has_default else _text(x)
        x = f"CASE {_text(x)} {whens} ELSE {other} END"
    if cm.format:
        out = _OUT_FORMAT["date" if kind == "date" else "timestamp"]
        x = f"coalesce(strftime(try_strptime({_text(x)}, {literal(cm.format)}), {literal(out)}), {_text(x)})"
    return x


def converted(cm: ColumnMap) -> bool:
    """True when the column is converted (not just renamed), so the report counts what happened."""
    return bool(cm.null_if or cm.map is not None or cm.format)


def stats_sql(cm: ColumnMap, kind: ColumnKind | None = None, cast: bool = False) -> dict[str, str]:
    """Aggregates counting what a conversion did: values read as missing, mapped, unmapped, parsed, unparsed.

    With `cast` (an attribute typed by the mapping, not by the contract) it also counts values that could not
    be read as `kind` and became missing: attributes are optional, so such a value is nulled, not rejected.
    """
    x = _base(cm)
    out: dict[str, str] = {"non_null": f"count({x})"}
    if cm.null_if:
        values = ", ".join(literal(v) for v in cm.null_if)
        out["read_as_missing"] = f"count(*) FILTER (WHERE {_text(x)} IN ({values}))"
        x = f"CASE WHEN {_text(x)} IN ({values}) THEN NULL ELSE {x} END"
    if cm.map is not None:
        keys = ", ".join(literal(k) for k in cm.map)
        out["mapped"] = f"count(*) FILTER (WHERE {_text(x)} IN ({keys}))"
        unmapped = f"count(*) FILTER (WHERE {x} IS NOT NULL AND {_text(x)} NOT IN ({keys}))"
        out["defaulted" if cm.has_default else "unmapped_kept"] = unmapped
    if cm.format:
        parsed = f"try_strptime({_text(x)}, {literal(cm.format)})"
        out["parsed"] = f"count({parsed})"
        out["unparsed"] = f"count(*) FILTER (WHERE {x} IS NOT NULL AND {parsed} IS NULL)"
    if cast and kind is not None:
        final = column_sql(cm, kind)
        out[f"not_{kind}_set_missing"] = (
            f"count(*) FILTER (WHERE {final} IS NOT NULL AND TRY_CAST({final} AS {_SQL_TYPE[kind]}) IS NULL)"
        )
    return out


def base_sql(tm: TableMap) -> str:
    """The FROM part: a source table or the mapping's own SELECT."""
    return ident(tm.source) if tm.source is not None else f"({tm.sql})"


def kept_columns(tm: TableMap, source_columns: Sequence[str]) -> list[str]:
    """Source columns carried over unchanged under their own names (`keep`)."""
    if tm.keep == "*":
        used = {cm.column for cm in tm.columns.values() if cm.column is not None}
        return [c for c in source_columns if c not in used and c not in tm.drop and c not in tm.columns]
    return [c for c in tm.keep if c not in tm.columns]


def table_sql(
    tm: TableMap, kinds: dict[str, ColumnKind | None], source_columns: Sequence[str], *, cast_extras: bool = False
) -> str:
    """The SELECT producing one target table.

    Args:
        tm: the table's mapping.
        kinds: target column → type (contract type, or the mapping's `type`, or None).
        source_columns: columns of the source (to expand `keep: "*"` and name unknown columns).
        cast_extras: TRY_CAST columns with a `type` that the contract does not type (account attributes).

    Raises:
        MappingError: a referenced source column does not exist.
    """
    known = set(source_columns)
    missing = [cm.column for cm in tm.columns.values() if cm.column is not None and cm.column not in known]
    keep = kept_columns(tm, source_columns)
    missing += [c for c in keep if c not in known]
    missing += [c for c in tm.drop if c not in known]
    if missing:
        origin = tm.source or "the mapping's sql"
        raise MappingError(f"source {origin!r} has no column(s) {sorted(set(missing))} (has: {', '.join(known)})")
    parts = []
    for name, cm in tm.columns.items():
        x = column_sql(cm, kinds.get(name))
        if cast_extras and cm.type is not None:
            x = f"TRY_CAST({x} AS {_SQL_TYPE[cm.type]})"
        parts.append(f"{x} AS {ident(name)}")
    parts += [ident(c) for c in keep]
    where = f" WHERE ({tm.where})" if tm.where else ""
    return f"SELECT {', '.join(parts)} FROM {base_sql(tm)} AS src{where}"


def check_table(tm: TableMap, name: str) -> list[str]:
    """Check every piece of user SQL in a table mapping; return the source tables it reads."""
    for col, cm in tm.columns.items():
        if cm.expr is not None:
            check_expression(cm.expr, f"{name}.{col} expr")
    if tm.where:
        check_expression(tm.where, f"{name} where")
    return query_tables(tm.sql, f"{name} sql") if tm.sql is not None else tm.source_tables()
