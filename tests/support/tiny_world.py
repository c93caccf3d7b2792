"""A tiny hand-written world whose feature values can be computed by hand in tests."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pyarrow as pa

from churnml.data.sources import Tables, duckdb_connection

AS_OF = dt.date(2024, 4, 1)


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def frames() -> dict[str, pd.DataFrame]:
    """A1: healthy annual account; A2: monthly account declining; A3: churned before AS_OF."""
    accounts = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "created_at": [ts("2023-01-01"), ts("2023-06-01"), ts("2023-02-01")],
            "segment": ["Enterprise", "SMB", "SMB"],
            "industry": ["Retail", "Media", "Media"],
            "region": ["EMEA", "NA", "NA"],
            "csm_id": ["C1", "C2", "C2"],
            "employees": [500, 20, 12],
        }
    )
    subscriptions = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A2", "A3"],
            "start_date": [dt.date(2023, 1, 5), dt.date(2023, 6, 1), dt.date(2024, 2, 1), dt.date(2023, 2, 1)],
            "end_date": [None, dt.date(2024, 1, 31), dt.date(2024, 5, 15), dt.date(2024, 1, 10)],
            "mrr": [10000.0, 500.0, 300.0, 200.0],
            "plan": ["enterprise", "pro", "starter", "starter"],
            "seats": [100, 10, 5, 3],
            "term_months": [12, 1, 1, 1],
        }
    )
    ev = []
    # A1: 2 users active every day of March 2024 (31 days), one event each, two event types.
    for day in pd.date_range("2024-03-01", "2024-03-31"):
        ev.append(("A1", day + pd.Timedelta(hours=9), "login", 1))
        ev.append(("A1", day + pd.Timedelta(hours=10), "create_report", 2))
    # A2: active in early Feb only (3 events by user 3), and on as-of day itself (must be ignored).
    for d in ("2024-02-01", "2024-02-02", "2024-02-20"):
        ev.append(("A2", ts(d) + pd.Timedelta(hours=12), "login", 3))
    ev.append(("A2", ts("2024-04-01 00:00:00"), "login", 3))
    events = pd.DataFrame(ev, columns=["account_id", "ts", "event_type", "user_id"])
    events["value"] = 1.0
    tickets = pd.DataFrame(
        {
            "account_id": ["A2", "A2", "A1"],
            "ticket_id": ["T1", "T2", "T3"],
            "opened_at": [ts("2024-03-01 08:00"), ts("2024-03-25 08:00"), ts("2024-03-10 08:00")],
            # T1 closed after the as-of date: still open at AS_OF, its effort score unknown then.
            "closed_at": [ts("2024-04-03 08:00"), None, ts("2024-03-11 08:00")],
            "priority": ["urgent", "normal", "low"],
            "effort_score": [7.0, None, 2.0],
            "reopened": [True, False, False],
        }
    )
    surveys = pd.DataFrame(
        {
            "account_id": ["A2", "A2", "A1", "A2"],
            "ts": [ts("2023-12-01"), ts("2024-03-15"), ts("2024-03-20"), ts("2024-03-10")],
            "kind": ["nps", "nps", "nps", "csat"],
            "score": [8.0, 3.0, 10.0, 2.0],
            "respondent_id": [3, 3, 1, 3],
        }
    )
    csm_enps = pd.DataFrame(
        {
            "csm_id": ["C1", "C1", "C2", "C2"],
            "ts": [ts("2024-03-01"), ts("2024-03-02"), ts("2024-03-01"), ts("2024-03-02")],
            "score": [10.0, 9.0, 3.0, 8.0],
        }
    )
    return {
        "accounts": accounts,
        "subscriptions": subscriptions,
        "events": events,
        "tickets": tickets,
        "surveys": surveys,
        "csm_enps": csm_enps,
    }


SCHEMAS = {
    "subscriptions": {"start_date": pa.date32(), "end_date": pa.date32()},
}


def to_tables(dfs: dict[str, pd.DataFrame]) -> Tables:
    """Typed Ibis tables on a fresh DuckDB connection (the shape validation hands to features)."""
    con = duckdb_connection(memory_limit=None)
    tables = {}
    for name, df in dfs.items():
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        for col, typ in SCHEMAS.get(name, {}).items():
            idx = arrow.schema.get_field_index(col)
            arrow = arrow.set_column(idx, col, pa.array(df[col].tolist(), typ))
        for i, field in enumerate(arrow.schema):
            if pa.types.is_timestamp(field.type):
                arrow = arrow.set_column(i, field.name, arrow.column(i).cast(pa.timestamp("us")))
        tables[name] = ibis.memtable(arrow)
    return Tables(con=con, source="memory", tables=tables)


def subscription_world(
    subs: list[tuple[str, dt.date, dt.date | None] | tuple[str, dt.date, dt.date | None, float]],
    last_event: str = "2024-12-31",
) -> dict[str, pd.DataFrame]:
    """Accounts with hand-made subscriptions `(account, start, end[, mrr])` (MRR 100 when not given) and one login
    per account per week from 2023-01-01 to `last_event`, so the data clearly runs until then; no tickets, surveys
    or eNPS. For label tests."""
    dfs = frames()
    ids = sorted({s[0] for s in subs})
    dfs["accounts"] = pd.DataFrame({"account_id": ids, "created_at": [pd.Timestamp("2022-01-01")] * len(ids)})
    dfs["subscriptions"] = pd.DataFrame(
        {
            "account_id": [s[0] for s in subs],
            "start_date": [s[1] for s in subs],
            "end_date": [s[2] for s in subs],
            "mrr": [float(s[3]) if len(s) > 3 else 100.0 for s in subs],
            "plan": [f"p{i}" for i in range(len(subs))],
            "seats": 1,
        }
    )
    days = pd.date_range("2023-01-01", last_event, freq="7D")
    dfs["events"] = pd.DataFrame(
        [(a, d, "login", 1) for a in ids for d in days], columns=["account_id", "ts", "event_type", "user_id"]
    )
    for name in ("tickets", "surveys", "csm_enps"):
        dfs.pop(name)
    return dfs
