"""The CSM list as Gainsight users expect it: names, search, band totals, sort both ways, "my accounts", CSV
export of the view, context kept apart from drivers, the header's model, and /docs without a CDN."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from churnml.scoring.store import ScoreStore
from serving.views import account_row, account_score
from tests.support.serving_world import CSM_ID, CSM_KEY, READ_KEY, ServingWorld


@pytest.fixture()
def web(client: TestClient) -> Iterator[TestClient]:
    client.cookies.clear()
    yield client
    client.cookies.clear()


def _login(c: TestClient, key: str = READ_KEY) -> None:
    r = c.post("/login", content=f"key={key}&next=/", follow_redirects=False,
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 303


def _latest(world: ServingWorld) -> pd.DataFrame:
    return ScoreStore.from_work_dir(world.settings.work_dir).read(world.dates[-1])


def _export(c: TestClient, **params: str) -> list[dict[str, str]]:
    r = c.get("/export.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(r.text)))


def test_names_arr_renewal_and_band_totals(web: TestClient, serving_world: ServingWorld) -> None:
    _login(web)
    stored = _latest(serving_world)
    assert stored["account_name"].notna().all() and stored["csm_name"].notna().all()  # the simulator names them
    html = web.get("/").text
    top = stored.sort_values(["churn_probability", "account_id"], ascending=[False, True]).iloc[0]
    assert top["account_name"] in html and top["csm_name"] in html
    row = account_row(top.to_dict())
    assert row.arr == pytest.approx(12 * top["mrr"])
    assert row.renewal_date is not None and str(row.renewal_date) in html
    for band in ("high", "medium", "low"):
        n = int((stored["risk_band"] == band).sum())
        assert re.search(rf'data-band="{band}">{n:,}<', html), band
    assert f"{len(stored):,} accounts" in html


def test_search_by_name_or_id_and_export_the_view(web: TestClient, serving_world: ServingWorld) -> None:
    _login(web)
    stored = _latest(serving_world)
    word = stored["account_name"].iloc[0].split()[1]  # e.g. "Books": several accounts share it
    want = stored[stored["account_name"].str.contains(word, case=False) | stored["account_id"].str.contains(word)]
    html = web.get("/", params={"q": word.lower(), "band": "", "segment": "", "csm": ""}).text  # the form's "all"
    assert f"{len(want):,} accounts match" in html
    rows = _export(web, q=word.lower(), sort="mrr_at_risk", order="asc")
    assert [r["account_id"] for r in rows] == list(
        want.sort_values(["mrr_at_risk", "account_id"])["account_id"])  # the view's order, every page
    assert rows[0]["account_name"] and rows[0]["csm_name"] and float(rows[0]["arr"]) == pytest.approx(
        12 * float(rows[0]["mrr"]))
    one = stored["account_id"].iloc[3]
    assert [r["account_id"] for r in _export(web, q=one)] == [one]
    assert _export(web, q="100%_no_such")== []  # LIKE wildcards in the search are literal


def test_sort_both_ways_biggest_improvements_first(web: TestClient, serving_world: ServingWorld) -> None:
    _login(web)
    rows = _export(web, sort="change", order="asc")
    changes = [float(r["change_points"]) for r in rows if r["change_points"]]
    assert changes and changes == sorted(changes) and changes[0] < 0  # largest fall in risk first
    assert [float(r["change_points"]) for r in _export(web, sort="change") if r["change_points"]] == sorted(
        changes, reverse=True)
    html = web.get("/", params={"sort": "risk"}).text
    assert 'href="/?sort=risk&amp;order=asc"' in html  # the sorted column's link flips the direction


def test_my_accounts_follow_the_key_csm(web: TestClient, serving_world: ServingWorld) -> None:
    stored = _latest(serving_world)
    _login(web, READ_KEY)
    assert 'id="my-accounts"' not in web.get("/").text  # a key tied to no CSM has no "my accounts"
    assert "needs a key tied to a CSM" in web.get("/", params={"mine": "1"}).text
    web.cookies.clear()
    _login(web, CSM_KEY)
    assert 'id="my-accounts"' in web.get("/").text
    mine = _export(web, mine="1")
    assert {r["csm_id"] for r in mine} == {CSM_ID} and len(mine) == int((stored["csm_id"] == CSM_ID).sum())


def test_context_reasons_are_shown_apart_from_drivers() -> None:
    """Whatever form the explanation gives context in (a flag on a reason, or a `context` column), it never
    counts as a driver or as the list's top reason."""
    renewal = {"feature": "days_to_renewal", "theme": "commercial", "contribution": 0.4,
               "sentence": "Renewal in 29 days", "kind": "context"}
    usage = {"feature": "events_30d", "theme": "usage", "contribution": 0.3, "sentence": "No product events",
             "points": 4.2}
    row = {"account_id": "A1", "as_of": pd.Timestamp("2025-01-01"), "churn_probability": 0.3, "risk_band": "high",
           "mrr": 100.0, "mrr_at_risk": 30.0, "risk_drivers": json.dumps([renewal, usage]),
           "protective_factors": "[]", "theme_contributions": "{}", "raw_score": 0.1, "base_value": -1.0,
           "model_name": "m", "model_version": "1",
           "context_facts": json.dumps([{"feature": "tenure_days", "sentence": "Customer for 3.8 years"}])}
    score = account_score(row)
    assert [r.feature for r in score.risk_drivers] == ["events_30d"]
    assert [c.sentence for c in score.context] == ["Customer for 3.8 years", "Renewal in 29 days"]
    assert score.risk_drivers[0].points == 4.2  # probability points passed on
    assert account_row(row).top_reason == "No product events"


def test_header_names_the_served_model_on_every_page(web: TestClient) -> None:
    ready = web.get("/readyz").json()
    assert ready["ready"]
    for html in (web.get("/login").text, web.post("/login", content="key=wrong&next=/",
                 headers={"content-type": "application/x-www-form-urlencoded"}).text):
        assert "no model loaded" not in html and f"model {ready['model']}" in html


def test_docs_load_from_this_server_only(web: TestClient) -> None:
    html = web.get("/docs").text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls and not [u for u in urls if re.match(r"(https?:)?//", u)], urls
    assets = [u for u in urls if u.endswith((".js", ".css", ".png"))]
    assert len(assets) >= 2
    for u in assets:
        assert web.get(u).status_code == 200, u
    assert web.get("/openapi.json").status_code == 200


def test_a_store_from_before_the_name_columns_still_lists(tmp_path: Path, serving_world: ServingWorld) -> None:
    """The service reads the store read-only: columns added since it was written read as null."""
    import duckdb

    from serving.store import Filters, StoreReader

    old = tmp_path / "scores.duckdb"
    con = duckdb.connect(str(old))
    con.execute(f"ATTACH '{ScoreStore.from_work_dir(serving_world.settings.work_dir).path}' AS src (READ_ONLY)")
    con.execute("CREATE TABLE scores AS SELECT * EXCLUDE (account_name, csm_name, signals) FROM src.scores")
    con.close()
    reader = StoreReader(old)
    page = reader.page(Filters(query="a0"), "renewal", False, 5)
    assert page.total > 0 and all(r["account_name"] is None and r["signals"] is None for r in page.rows)
    assert sum(b.accounts for b in reader.band_totals(Filters())) == len(_latest(serving_world))
