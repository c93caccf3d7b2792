"""Batch scoring: the score table, change since the previous scoring, summary, and the registry + CLI path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from churnml.config import DataConfig, RiskBands, ScoringConfig, Settings
from churnml.lifecycle.tracking import ENV_TRACKING_URI
from churnml.model.model import BASE_VALUE
from churnml.scoring.job import run_scoring
from churnml.scoring.store import COLUMNS, ScoreStore
from churnml.scoring.table import KEY_SIGNALS, score_accounts, summarise
from tests.support.explain_world import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


def _at(world: World, i: int) -> pd.DataFrame:
    d = world.frame["as_of"].sort_values().unique()[i]
    return world.frame[world.frame["as_of"] == d].drop(columns=["churned", "churn_date"]).reset_index(drop=True)


def test_risk_bands() -> None:
    bands = RiskBands()
    got = bands.assign([0.0, 0.099, 0.1, 0.2499, 0.25, 1.0])
    assert list(got) == ["low", "low", "medium", "medium", "high", "high"]
    assert list(RiskBands(medium=0.3, high=0.6).assign([0.2, 0.3, 0.7])) == ["low", "medium", "high"]
    with pytest.raises(ValueError, match="medium < high"):
        RiskBands(medium=0.3, high=0.2)


def test_score_table(world: World) -> None:
    feats = _at(world, -1)
    accounts = pd.DataFrame({"account_id": feats["account_id"], "csm_id": "C7"})
    out = score_accounts(world.model, feats, model_name="churn-risk", model_version=3, accounts=accounts)
    assert list(out.columns) == list(COLUMNS) and len(out) == len(feats)
    np.testing.assert_allclose(out["churn_probability"], world.model.predict_proba(feats)[:, 1])
    np.testing.assert_allclose(out["mrr_at_risk"], out["churn_probability"] * feats["mrr"])
    assert out["change_points"].isna().all() and out["change_text"].isna().all()  # first scoring
    assert list(out["segment"]) == list(feats["segment"].astype(str))  # no accounts segment: the feature
    assert (out["csm_id"] == "C7").all() and (out["model_version"] == "3").all()
    reasons = json.loads(out["risk_drivers"].iloc[0])
    assert reasons and set(reasons[0]) >= {"feature", "theme", "contribution", "sentence"}
    assert all(r["contribution"] > 0 for r in reasons)
    assert all(r["contribution"] < 0 for x in out["protective_factors"] for r in json.loads(x))
    signals = [json.loads(x) for x in out["signals"]]
    assert set(signals[0]) == {c for c in KEY_SIGNALS if c in feats.columns} and "mrr" in signals[0]
    for i in (0, len(feats) - 1):
        for name, value in signals[i].items():
            expected = feats[name].iloc[i]
            assert (value is None and pd.isna(expected)) or value == pytest.approx(float(expected)), name
    with pytest.raises(ValueError, match="one as-of date"):
        score_accounts(world.model, world.frame, model_name="m", model_version=1)


def test_change_since_previous_scoring(world: World) -> None:
    before, now = _at(world, -2), _at(world, -1)
    first = score_accounts(world.model, before, model_name="churn-risk", model_version=1)
    second = score_accounts(world.model, now, model_name="churn-risk", model_version=1, previous=first)
    both = second[second["account_id"].isin(first["account_id"])]
    new = second[~second["account_id"].isin(first["account_id"])]
    assert len(both) > 50 and new["change_points"].isna().all()
    prev = first.set_index("account_id")["churn_probability"]
    expected = (both["churn_probability"].to_numpy() - prev.loc[both["account_id"]].to_numpy()) * 100
    np.testing.assert_allclose(both["change_points"], expected, atol=1e-9)
    for points, parts in zip(both["change_points"], both["change_by_theme"], strict=True):
        assert sum(json.loads(parts).values()) == pytest.approx(points, abs=1e-9)
    assert both["change_text"].str.match(r"^risk (up|down|unchanged)").all()
    assert not both["change_text"].str.contains("model changed").any()
    # the text names the key signals that moved (stored `signals` of both scorings), with their values
    named = both["change_text"].str.contains(" → ") & (both["change_points"].abs() >= 1)
    assert named.sum() > len(both) / 4, both["change_text"].head(10).tolist()
    assert all(json.loads(x) is not None for x in second["theme_points"])
    for _, row in both[named].head(20).iterrows():
        was = json.loads(first.set_index("account_id").loc[row["account_id"], "signals"])
        now_values = json.loads(row["signals"])
        assert any(was.get(k) != now_values.get(k) for k in now_values), row["change_text"]
    # a new model version is named in the text
    third = score_accounts(world.model, now, model_name="churn-risk", model_version=2, previous=first)
    assert third.loc[third["change_points"].notna(), "change_text"].str.contains("churn-risk v1 → churn-risk v2").all()


def test_summary(world: World) -> None:
    first = score_accounts(world.model, _at(world, -2), model_name="m", model_version=1)
    second = score_accounts(world.model, _at(world, -1), model_name="m", model_version=1, previous=first,
                            bands=RiskBands(rule="absolute", medium=0.02, high=0.05))
    s = summarise(second, movers=5)
    assert s.accounts == len(second) and s.by_band["accounts"].sum() == len(second)
    assert list(s.by_band["band"]) == ["low", "medium", "high"]
    assert s.mrr_at_risk == pytest.approx(second["mrr_at_risk"].sum())
    assert s.by_segment["mrr_at_risk"].is_monotonic_decreasing
    assert s.by_segment["mrr_at_risk"].sum() == pytest.approx(s.mrr_at_risk)
    assert len(s.movers) == 5
    moves = s.movers["change_points"].abs().to_numpy()
    assert (moves[:-1] >= moves[1:]).all() and moves[0] == pytest.approx(second["change_points"].abs().max())


# --------------------------------------------------------------------------- registry + store + CLI


@pytest.fixture(scope="module")
def registered(world: World, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A champion registered in an embedded store; settings pointing at it and at the world's data."""
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure

    mp = pytest.MonkeyPatch()
    mp.delenv(ENV_TRACKING_URI, raising=False)
    try:
        work = tmp_path_factory.mktemp("work")
        run = log_run(configure(work), RunRecord(world.model, world.frame.head(10), metrics={"roc_auc": 0.7},
                                                     run_name="t"))
        registry = ModelRegistry.from_work_dir(work)
        registry.promote_if_better(registry.register(run.run_id))
        yield Settings(work_dir=work, data=DataConfig(dir=world.data))
    finally:
        mp.undo()


def test_run_scoring_stores_history_and_is_idempotent(world: World, registered: Settings,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    d1, d2 = world.dates[-2], world.dates[-1]
    cfg = ScoringConfig(top_reasons=2)
    r1 = run_scoring(registered, d1, config=cfg)
    assert r1.model_uri == "models:/churn-risk/1" and r1.store == registered.work_dir / "scores.duckdb"
    np.testing.assert_allclose(r1.scores["churn_probability"], world.model.predict_proba(_at(world, -2))[:, 1])
    assert r1.scores["csm_id"].notna().all()  # from the accounts table
    assert all(len(json.loads(x)) <= 2 for x in r1.scores["risk_drivers"])
    cut = json.loads(r1.scores["band_rule"].iloc[0])  # the rule and edges, stored with the scores
    assert cut["rule"] == "relative" and cut["base_rate"] == pytest.approx(r1.scores["churn_probability"].mean())
    assert r1.summary.bands.startswith("relative to base rate")
    r2 = run_scoring(registered, d2, config=cfg)
    assert r2.scores["change_points"].notna().sum() > 50 and r2.summary.rescored > 50
    store = ScoreStore(r2.store)
    before = store.read()
    run_scoring(registered, d2, config=cfg)  # same date again: replaced, not appended
    after = store.read()
    assert store.as_of_dates() == [d1, d2] and len(after) == len(before)
    pd.testing.assert_frame_equal(before.drop(columns="scored_at"), after.drop(columns="scored_at"))
    with pytest.raises(ValueError, match="alias 'nobody'"):
        run_scoring(registered, d2, alias="nobody")


def _cli() -> typer.Typer:
    from churnml.cli.score import score_command

    app = typer.Typer()
    app.command("score")(score_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps "score" as a sub-command name
    return app


def test_cli(world: World, registered: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TRACKING_URI, raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(f"work_dir: {registered.work_dir}\ndata:\n  dir: {world.data}\n")
    runner = CliRunner()
    env: dict[str, Any] = {"COLUMNS": "160"}
    res = runner.invoke(_cli(), ["score", "--as-of", str(world.dates[-1]), "--config", str(config),
                                 "--export", str(tmp_path / "s.parquet")], env=env)
    assert res.exit_code == 0, res.output
    assert "Risk bands" in res.output and "MRR at risk by segment" in res.output
    assert "bands: relative to base rate " in res.output  # which rule made the bands
    assert len(pd.read_parquet(tmp_path / "s.parquet")) > 50
    bad = runner.invoke(_cli(), ["score", "--as-of", "2025-13-01", "--config", str(config)], env=env)
    assert bad.exit_code != 0
    none = runner.invoke(_cli(), ["score", "--as-of", str(world.dates[-1]), "--config", str(config),
                                  "--alias", "nobody"], env=env)
    assert none.exit_code == 1 and "alias 'nobody'" in none.output
    known = str(pd.read_parquet(tmp_path / "s.parquet")["account_id"].iloc[0])
    one = runner.invoke(_cli(), ["score", "--account", known, "--as-of", str(world.dates[-1]), "--config",
                                 str(config)], env=env)
    assert one.exit_code == 0, one.output
    assert f"{known} at {world.dates[-1]}" in one.output and "risk drivers:" in one.output
    unknown = runner.invoke(_cli(), ["score", "--account", "NO-SUCH", "--as-of", str(world.dates[-1]), "--config",
                                     str(config)], env=env)
    assert unknown.exit_code == 1 and "'NO-SUCH' is unknown or not active" in unknown.output
    assert "Traceback" not in unknown.output


def test_plain_rows_get_what_the_merging_search_gives(world: World) -> None:
    """Rows without two active units of one shared-sentence group skip the merging search: same reasons."""
    from churnml.scoring.explain import attribution as A
    from churnml.scoring.explain.sentences import _Row
    from churnml.scoring.explain.slots import first_slots, plain_rows

    frame = world.frame.drop(columns=["churned", "churn_date"]).reset_index(drop=True)
    fast = A.explain_frame(world.model, frame)
    plan = A.plan_for(world.model)
    _, prob, shap = world.model.score(frame, explain=True)
    by_unit = A._group_sums(shap[plan.names].to_numpy(), plan.unit_matrix)
    base = shap[BASE_VALUE].to_numpy()
    points = A.probability_points(by_unit, base, prob, plan.calibrate(base), plan.calibrate)
    ranked = np.where(plan.context_mask, 0.0, by_unit)
    order = np.argsort(-ranked, axis=1, kind="stable")
    first = [first_slots(o[:, :3], ranked, points, sign, 0.01) for o, sign in ((order, 1), (order[:, ::-1], -1))]
    plain = plain_rows(ranked, plan.groups, 0.01, first)
    assert plain.mean() > 0.5  # the fast path serves most rows; every row is checked against the search
    cols = A._columns(frame)
    for i in range(len(frame)):
        assert A._explain_row(order[i], ranked[i], points[i], plan, _Row(cols, i), 3, 0.01) == (
            fast[i].drivers, fast[i].protective)
