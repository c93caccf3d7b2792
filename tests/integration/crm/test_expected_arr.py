"""The CRM push carries each account's expected ARR at renewal when the mapping asks for it: from the latest
forecast saved beside the score store, for accounts renewing inside the horizon, and only when that forecast was
made for the date pushed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from churnml.crm.mapping import FLAT_FIELDS, CrmConfig, FilesConfig
from churnml.crm.push import push_scores
from churnml.forecast.store import save_forecast
from tests.support.crm_scores import store_scores

AS_OF = dt.date(2025, 3, 3)


def _forecast(work: Path, scores: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    ids = scores["account_id"].astype(str)
    accounts = pd.DataFrame({"account_id": ids, "mrr": 100.0, "expected_mrr_horizon": 90.0 + pd.RangeIndex(len(ids)),
                             "renews_in_horizon": [i % 2 == 0 for i in range(len(ids))]})
    empty = pd.DataFrame({"group": ["all"]})
    save_forecast(work, as_of=as_of, horizon_days=90, by=None, levels=(0.8,), groups=empty, renewals=empty.iloc[:0],
                  health=pd.DataFrame(), accounts=accounts, versions={})
    return accounts


def _push(work: Path) -> pd.DataFrame:
    fields = {"account_id": "account_id", **FLAT_FIELDS, "expected_arr_at_renewal": "expected_arr_at_renewal"}
    cfg = CrmConfig(files=FilesConfig(dir=work / "out", fields=fields))
    assert push_scores(cfg, work / "scores.duckdb", AS_OF, target="csv", full=True).acked == 10
    return pd.read_csv(sorted((work / "out").glob("churn_scores_2025-03-03_*.csv"))[-1])


def test_expected_arr_at_renewal_in_the_payload(tmp_path: Path) -> None:
    scores = store_scores(tmp_path / "scores.duckdb", 10, AS_OF)
    got = _push(tmp_path)
    assert got["expected_arr_at_renewal"].isna().all()  # no forecast yet: the field is empty, not invented
    accounts = _forecast(tmp_path, scores, AS_OF)
    got = _push(tmp_path).set_index("account_id")
    for row in accounts.itertuples():
        value = got.loc[row.account_id, "expected_arr_at_renewal"]
        if row.renews_in_horizon:
            assert value == pytest.approx(12 * row.expected_mrr_horizon)
        else:
            assert pd.isna(value)
    _forecast(tmp_path, scores, AS_OF - dt.timedelta(days=7))  # last week's forecast: not this push's
    assert _push(tmp_path)["expected_arr_at_renewal"].isna().all()
