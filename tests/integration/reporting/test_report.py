"""The CS KPI report: built from a small simulated world with stored scorings, one offline HTML file whose SVG
figures render in headless Chromium at their own proportions (screenshots saved, full width and 390 px), whose
tiles give trailing and annualised retention against the period before and state the margin and CAC used,
point in time, and the `churnml report` command."""

from __future__ import annotations

import base64
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
    images = re.findall(r'<img alt="[^"]+" src="([^"]+)" width="(\d+)" height="(\d+)"', text)
    assert len(images) >= 9 and all(src.startswith("data:image/svg+xml;base64,") for src, _, _ in images)
    assert all(int(w) > 100 and int(h) > 100 for _, w, h in images)
    assert "<img" not in re.sub(r'<img alt="[^"]+" src="[^"]+" width="\d+" height="\d+">', "", text)
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from the network
    for words in ("Experience next to outcomes", "Retention by signup cohort", "Model health", "realised churn",
                  "Revenue at risk", "LTV"):
        assert words in text


_IMAGES = ("Array.from(document.images).map(i => ({alt: i.alt, svg: i.src.startsWith('data:image/svg+xml;base64,'),"
           " w: i.naturalWidth, h: i.naturalHeight, cw: i.getBoundingClientRect().width,"
           " ch: i.getBoundingClientRect().height, done: i.complete}))")


def _check_images(images: list[dict], page_width: int) -> None:
    assert len(images) >= 9
    broken = [i["alt"] for i in images if not (i["done"] and i["w"] > 100 and i["h"] > 100)]
    assert not broken, f"figures that did not render: {broken}"
    assert all(i["svg"] for i in images)
    stretched = [i["alt"] for i in images if abs(i["cw"] / i["ch"] - i["w"] / i["h"]) > 0.02 * i["w"] / i["h"]]
    assert not stretched, f"figures drawn out of proportion: {stretched}"
    enlarged = [i["alt"] for i in images if i["cw"] > i["w"] + 1 or i["cw"] > page_width]
    assert not enlarged, f"figures drawn larger than their size or the page: {enlarged}"


def test_report_renders_in_chromium(built: Built) -> None:
    with browser_page() as page:
        page.goto(built.html.as_uri())
        page.wait_for_load_state("load")
        _check_images(page.evaluate(_IMAGES), 1280)
        assert page.locator("h2").count() >= 7
        assert page.locator("table").count() >= 5
        tiles = {k: page.locator(f'[data-kpi="{k}"]').inner_text() for k in ("logo_churn", "grr", "nrr", "ltv", "cac")}
        for key in ("logo_churn", "grr", "nrr"):
            assert "trailing 12 months" in tiles[key] and "annualised from monthly" in tiles[key]
            assert re.search(r"\d+\.\d%", tiles[key]) and "no earlier period in the data" in tiles[key]
        assert "at 100% gross margin (the default" in tiles["ltv"] and "$" in tiles["ltv"]
        assert "add acquisition costs with --costs FILE" in tiles["cac"]
        shot = screenshot(page, "kpi_report")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(100)
        _check_images(page.evaluate(_IMAGES), 390)
        narrow = screenshot(page, "kpi_report_390")
    assert shot.exists() and shot.stat().st_size > 20_000 and narrow.exists()


def test_tiles_trailing_annualised_and_prior_period(built: Built) -> None:
    """The tiles' figures, checked against their definitions on the report's own tables."""
    from churnml.reporting.tiles import kpi_tiles

    r = built.report
    assert r.period is not None and r.period.months == r.months
    o = r.overall.iloc[0]
    tiles = {t.key: t for t in kpi_tiles(r.period, r.prior, gross_margin=1.0, has_costs=False)}
    assert tiles["grr"].lines[0] == f"annualised from monthly: {100 * o['grr'] ** 12:.1f}%"
    assert tiles["logo_churn"].lines[1] == f"monthly: {100 * o['logo_churn_rate']:.1f}%"
    t = r.period.trailing
    assert 0 <= t["grr"] <= t["nrr"] + 1e-9 and 0 <= t["logo_churn"] <= 1
    assert tiles["grr"].value == f"{100 * t['grr']:.1f}%"
    # the data begins in Jan 2024 (events): the period before starts no earlier — one month, too few to compare
    assert r.prior is not None and r.prior.months == [dt.date(2024, 1, 1)]
    assert all(t.change == "no earlier period in the data to compare with" for t in tiles.values())
    assert tiles["cac"].value == "not provided"
    # with six months reported, the six before are all in the data: the trailing figures are compared
    from churnml.reporting.report import compute_report

    tables = {n: pd.read_parquet(built.world.data / f"{n}.parquet") for n in ("accounts", "subscriptions", "surveys")}
    half = compute_report(tables, built.as_of, months=6, grace_days=14, observed_from=dt.date(2024, 1, 1))
    assert half.prior is not None and len(half.prior.months) == 6 and half.prior.months[-1] < half.months[0]
    six = {t.key: t for t in kpi_tiles(half.period, half.prior, gross_margin=1.0, has_costs=False)}
    diff = 100 * (half.period.trailing["grr"] - half.prior.trailing["grr"])
    assert six["grr"].change.startswith(f"{'▲' if diff > 0 else '▼'} {abs(diff):.1f} pts vs ")
    assert six["grr"].label == "GRR, trailing 6 months"


def test_deciles_use_the_catalog_words(built: Built) -> None:
    from churnml.features.catalog import BY_NAME

    text = built.html.read_text()
    src = re.search(r'<img alt="churn by decile" src="data:image/svg\+xml;base64,([^"]+)"', text)
    assert src is not None
    svg = base64.b64decode(src.group(1)).decode("utf-8")
    for name in built.report.key_features:
        assert BY_NAME[name].description.split()[0] in svg  # the description's words, not the column name
        assert f">{name}<" not in svg


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
    cfg.write_text(yaml.safe_dump({"work_dir": str(built.settings.work_dir), "data": {"dir": str(built.world.data)},
                                   "reporting": {"gross_margin": 0.75}}))
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
    assert "LTV:CAC" in text and "CAC (per new logo)" in text and "$1,000" in text
    assert "not provided" not in text
    assert "at 75% gross margin (reporting.gross_margin" in text  # the configured margin, said on the tile
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
