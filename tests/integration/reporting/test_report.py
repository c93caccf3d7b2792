"""The CS KPI report: built from a small simulated world with stored scorings, one offline HTML file whose plots
render in headless Chromium (screenshot saved), point in time, and the `churnml report` command."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnml.config import DataConfig, Settings
from churnml.reporting.report import KpiReport, build_report, compute_report, render_html, write_report
from churnml.scoring.store import ScoreStore
from churnml.scoring.table import score_accounts
from tests.support.browser import browser_page, screenshot
from tests.support.explain_world import World, build_world


@dataclass
class Built:
    world: World
    settings: Settings
    as_of: dt.date
    scored: list[dt.date]
    report: KpiReport
    html: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A world, two stored scorings (one whose horizon has passed by the report date), and the report."""
    root = tmp_path_factory.mktemp("report")
    world = build_world(root)
    settings = Settings(work_dir=root / "work", data=DataConfig(dir=world.data))
    accounts = pd.read_parquet(world.data / "accounts.parquet")[["account_id", "segment", "csm_id"]]
    store = ScoreStore.from_work_dir(settings.work_dir)
    as_of = world.dates[-1]
    early = next(d for d in world.dates if d + dt.timedelta(days=130) <= as_of and d >= dt.date(2024, 9, 1))
    scored = [early, as_of]
    for d in scored:
        feats = world.frame[world.frame["as_of"] == pd.Timestamp(d)].drop(columns=["churned", "churn_date"])
        store.write(score_accounts(world.model, feats.reset_index(drop=True), model_name="churn-risk",
                                   model_version=1, accounts=accounts))
    report = build_report(settings, as_of)
    html = write_report(report, root / "out" / "report.html")
    return Built(world, settings, as_of, scored, report, html)


def test_report_tables(built: Built) -> None:
    r = built.report
    assert len(r.months) == 12 and r.months[-1] < built.as_of
    assert len(r.revenue) == 12 and r.revenue["customers_start"].gt(50).all()
    assert set(r.segments["segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert {"nps", "csat", "ces", "nrr", "grr", "response_rate"} <= set(r.segments.columns)
    assert r.segments["customers_start"].sum() == r.revenue["customers_start"].sum()
    assert r.csms["csm_id"].nunique() == len(r.csms) > 1 and "enps" in r.csms.columns
    assert len(r.key_features) >= 3 and set(r.deciles["feature"]) == set(r.key_features)
    assert r.retention["retention"].between(0, 1).all() and (r.retention["months"] == 0).any()
    # model health: only the early scoring's horizon has passed by the report date
    assert r.scorings == [built.scored[0]]
    assert r.bands is not None and list(r.bands["band"]) == [b for b in ("low", "medium", "high")
                                                               if b in set(r.bands["band"])]
    n_early = int((built.world.frame["as_of"] == pd.Timestamp(built.scored[0])).sum())
    assert r.bands["accounts"].sum() == n_early
    assert r.at_risk_as_of == built.as_of
    assert r.at_risk_segment is not None and r.at_risk_segment["mrr_at_risk"].is_monotonic_decreasing
    assert r.at_risk_csm is not None and r.at_risk_csm["accounts"].sum() == r.at_risk_segment["accounts"].sum()


def test_html_is_self_contained(built: Built) -> None:
    text = built.html.read_text()
    assert text.startswith("<!doctype html>") or text.lstrip().startswith("<!doctype html>")
    images = re.findall(r'<img alt="[^"]+" src="([^"]+)"', text)
    assert len(images) >= 9 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from the network
    for words in ("Experience next to outcomes", "Retention by signup cohort", "Model health", "realised churn",
                  "Revenue at risk", "LTV"):
        assert words in text


def test_report_renders_in_chromium(built: Built) -> None:
    with browser_page() as page:
        page.goto(built.html.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, w: i.naturalWidth, h: i.naturalHeight,"
            " done: i.complete}))")
        assert len(images) >= 9
        broken = [i["alt"] for i in images if not (i["done"] and i["w"] > 100 and i["h"] > 100)]
        assert not broken, f"plots that did not render: {broken}"
        assert page.locator("h2").count() >= 6
        assert page.locator("table").count() >= 5
        shot = screenshot(page, "kpi_report")
    assert shot.exists() and shot.stat().st_size > 20_000


def test_point_in_time(built: Built) -> None:
    """Rows after the as-of date change nothing: the report on truncated tables is the same."""
    data = built.world.data
    tables = {n: pd.read_parquet(data / f"{n}.parquet")
              for n in ("accounts", "subscriptions", "surveys", "tickets", "csm_enps")}
    as_of = dt.date(2024, 10, 15)
    full = compute_report(tables, as_of, months=6, grace_days=14)
    cut = {n: t for n, t in tables.items()}
    cut["subscriptions"] = tables["subscriptions"][pd.to_datetime(tables["subscriptions"]["start_date"])
                                                   < pd.Timestamp(as_of)]
    cut["surveys"] = tables["surveys"][tables["surveys"]["ts"] < pd.Timestamp(as_of)]
    truncated = compute_report(cut, as_of, months=6, grace_days=14)
    pd.testing.assert_frame_equal(full.revenue, truncated.revenue)
    pd.testing.assert_frame_equal(full.experience, truncated.experience)
    pd.testing.assert_frame_equal(full.retention, truncated.retention)
    assert full.months[-1] == dt.date(2024, 9, 1)
    # no surveys, no scores: the report still renders and says what is missing
    no_surveys = compute_report({**tables, "surveys": tables["surveys"].iloc[:0]}, as_of, months=6)
    assert no_surveys.overall["nps"].isna().all()
    html = render_html(no_surveys)
    assert "No survey answers" in html and "No stored scorings" in html


def test_cli_report_with_costs(built: Built, tmp_path: Path) -> None:
    from churnml.cli.app import app

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"work_dir": str(built.settings.work_dir), "data": {"dir": str(built.world.data)}}))
    accounts = pd.read_parquet(built.world.data / "accounts.parquet")
    costs = tmp_path / "costs.csv"
    accounts[["account_id"]].assign(cost=1000.0).to_csv(costs, index=False)
    out = tmp_path / "r.html"
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--as-of", str(built.as_of), "--out", str(out), "--months", "6",
                              "--costs", str(costs), "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert out.exists() and "report written to" in res.output and "NRR" in res.output
    text = out.read_text()
    assert "LTV:CAC" in text and "CAC" in text
    bad = runner.invoke(app, ["report", "--as-of", "2024-13-01", "--out", str(out), "-c", str(cfg)])
    assert bad.exit_code != 0 and "not a date" in bad.output
    missing = runner.invoke(app, ["report", "--as-of", str(built.as_of), "--out", str(out), "-c", str(cfg),
                                  "--costs", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "Traceback" not in missing.output


def test_costs_table_beside_the_data(tmp_path: Path) -> None:
    from churnml.reporting.report import find_costs, read_costs

    assert find_costs(tmp_path) is None and find_costs(tmp_path / "db.duckdb") is None
    pd.DataFrame({"month": ["2024-01-01"], "segment": ["SMB"], "cost": [5.0]}).to_csv(
        tmp_path / "acquisition_costs.csv", index=False)
    found = find_costs(tmp_path)
    assert found == tmp_path / "acquisition_costs.csv" and list(read_costs(found).columns) == ["month", "segment",
                                                                                               "cost"]
