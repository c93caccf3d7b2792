"""The mapping model and the SQL it becomes: refused mappings, refused SQL, and each conversion on real values."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from churnml.importer.mapping import ColumnMap, Mapping, load_mapping
from churnml.importer.sql import MappingError, check_expression, column_sql, query_tables, table_sql
from tests.support.export import MAPPING


def _run(sql_expr: str, values: list, sql_type: str = "VARCHAR") -> list:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t (x {sql_type})")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    return [r[0] for r in con.execute(f"SELECT {sql_expr} FROM t").fetchall()]


def test_example_mapping_loads() -> None:
    m = load_mapping(MAPPING)
    assert m.shape == "event_log" and set(m.tables) == {
        "accounts", "subscriptions", "events", "tickets", "surveys", "csm_enps"
    }
    assert m.tables["accounts"].columns["account_id"] == ColumnMap(column="Id")  # shorthand
    assert m.tables["accounts"].columns["employees"].type == "int"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"tables": {"accounts": {"source": "a", "columns": {"account_id": {"column": "x", "value": 1}}}}},
         "exactly one of column, value or expr"),
        ({"tables": {"acounts": {"source": "a"}}}, "unknown target table"),
        ({"tables": {"events": {"source": "e", "columns": {"colour": "c"}}}}, "not in the contract"),
        ({"tables": {"events": {"source": "e", "sql": "SELECT 1"}}}, "exactly one of source or sql"),
        ({"tables": {"events": {"source": "e", "keep": ["x"]}}}, "keep is only for"),
        ({"tables": {"accounts": {"source": "a", "columns": {"created_at": {"column": "c", "type": "int"}}}}},
         "the contract types it timestamp"),
        ({"shape": "snapshot", "snapshot": {"source": "s", "columns": {"account_id": "id"}}}, "must fill"),
        ({"tables": {"events": {"source": "e"}}, "colour": 1}, "Extra inputs"),
    ],
)
def test_bad_mappings_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Mapping.model_validate(raw)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1; DROP TABLE accounts", "one statement|not a valid"),
        ("(SELECT count(*) FROM accounts)", "sub-queries"),
        ("amount +", "not a valid"),
        ("a FROM b", "not a valid"),
    ],
)
def test_unsafe_or_broken_expressions_are_refused(expr: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        check_expression(expr, "t.c expr")


def test_safe_expressions_pass() -> None:
    check_expression("amount_cents / 100.0", "x")
    check_expression("coalesce(a, b) || '-' || CAST(c AS VARCHAR)", "x")


def test_query_tables_lists_sources_and_refuses_file_reads() -> None:
    sql = "WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b USING (id) UNION ALL SELECT * FROM c"
    assert sorted(query_tables(sql, "s")) == ["a", "b", "c"]
    with pytest.raises(MappingError, match="table functions"):
        query_tables("SELECT * FROM read_csv('/etc/passwd')", "s")
    with pytest.raises(MappingError, match=r"not a valid|SELECT"):
        query_tables("DELETE FROM a", "s")


def test_value_map_with_and_without_default() -> None:
    strict = ColumnMap(column="x", map={"Yes": True, "No": False})
    # Unlisted values pass through unchanged so validation can reject them by name.
    assert _run(column_sql(strict, "bool"), ["Yes", " No ", "Maybe", None]) == ["true", "false", "Maybe", None]
    lax = ColumnMap(column="x", map={"Yes": True}, default=False)
    assert _run(column_sql(lax, "bool"), ["Yes", "Maybe"]) == ["true", "false"]


def test_null_if_then_format() -> None:
    cm = ColumnMap(column="x", null_if=["", "n/a"], format="%d/%m/%Y")
    got = _run(column_sql(cm, "date"), ["05/01/2024", "", "n/a", "31/02/2024", None])
    assert got == ["2024-01-05", None, None, "31/02/2024", None]  # the impossible date is kept for validation
    ts = ColumnMap(column="x", format="%Y-%m-%dT%H:%M:%SZ")
    assert _run(column_sql(ts, "timestamp"), ["2024-01-10T09:00:00Z"]) == ["2024-01-10 09:00:00"]


def test_constant_expression_and_numeric_map() -> None:
    assert _run(column_sql(ColumnMap(value="standard"), "string"), ["a", "b"]) == ["standard", "standard"]
    assert _run(column_sql(ColumnMap(expr="x / 100.0"), "float"), [1250], "INTEGER") == [12.5]
    months = ColumnMap(column="x", map={"monthly": 1, "annual": 12})
    assert _run(f"CAST({column_sql(months, 'int')} AS INTEGER)", ["annual", "monthly"]) == [12, 1]


def test_table_sql_keeps_drops_and_names_missing_columns() -> None:
    m = Mapping.model_validate({"shape": "snapshot", "snapshot": {
        "source": "s", "columns": {"account_id": "id", "churned": "gone"}, "keep": "*", "drop": ["secret"]}})
    sql = table_sql(m.snapshot, {}, ["id", "gone", "age", "secret", "plan"])
    con = duckdb.connect()
    con.execute("CREATE TABLE s AS SELECT 1 AS id, true AS gone, 30 AS age, 'x' AS secret, 'p' AS plan")
    cols = [d[0] for d in con.execute(sql).description]
    assert cols == ["account_id", "churned", "age", "plan"]
    with pytest.raises(MappingError, match=r"no column\(s\) \['gone'\]"):
        table_sql(m.snapshot, {}, ["id", "age", "secret"])


def test_database_reader_choice() -> None:
    from churnml.data.sources import SourceError
    from churnml.importer.database import libpq_url, reader_for
    from churnml.importer.mapping import ReadOptions

    auto, alchemy, adbc = ReadOptions(), ReadOptions(db_reader="sqlalchemy"), ReadOptions(db_reader="adbc")
    assert reader_for("postgresql://u@h/db", auto) == "adbc"
    assert reader_for("postgresql+psycopg://u@h/db", auto) == "adbc"
    assert reader_for("postgresql://u@h/db", alchemy) == "sqlalchemy"
    assert reader_for("sqlite:///x.db", auto) == "sqlalchemy"
    with pytest.raises(SourceError, match="adbc reads PostgreSQL only"):
        reader_for("sqlite:///x.db", adbc)
    assert libpq_url("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
