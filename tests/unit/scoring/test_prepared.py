"""PreparedQuery: one compiled expression run per account id, ids taken as data (quotes and all), never as SQL."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from churnml.scoring.prepared import SENTINEL, PreparedQuery

IDS = ["A1", "o'brien", "x'); DROP TABLE accounts; --", "\\'", "ünïcode"]


@pytest.fixture()
def con():
    backend = ibis.duckdb.connect()
    backend.con.execute("CREATE TABLE accounts (account_id VARCHAR, mrr DOUBLE)")
    for k, account_id in enumerate(IDS):
        backend.con.execute("INSERT INTO accounts VALUES (?, ?)", [account_id, 10.0 * (k + 1)])
    return backend


def _query(con):
    t = con.table("accounts")
    return PreparedQuery(con, t.filter(t.account_id == SENTINEL).select("account_id", "mrr"))


@pytest.mark.parametrize("account_id", IDS)
def test_each_id_finds_its_own_row(con, account_id: str) -> None:
    got = _query(con).run(account_id)
    t = con.table("accounts")
    pd.testing.assert_frame_equal(got, t.filter(t.account_id == account_id).select("account_id", "mrr").to_pandas())
    assert got["account_id"].tolist() == [account_id]


def test_sql_in_an_id_is_data(con) -> None:
    q = _query(con)
    assert q.run("nobody' OR '1'='1").empty
    assert con.table("accounts").count().execute() == len(IDS)  # nothing was dropped


def test_expression_without_the_sentinel_is_refused(con) -> None:
    with pytest.raises(ValueError, match="sentinel"):
        PreparedQuery(con, con.table("accounts"))


def test_closed_query_cannot_run(con) -> None:
    q = _query(con)
    q.close()
    with pytest.raises(Exception, match=r"(?i)prepared"):
        q.run("A1")
