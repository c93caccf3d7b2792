"""Explanations a CSM can act on, on a fitted model: context is never a cause, twins show once, a reference window
is never listed on its own, probability points add up to p − base p, theme totals to their listed reasons."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnml.features.catalog import FeatureSpec
from churnml.scoring.explain import OTHER, Explanation, explain_frame, is_context, spec_for
from tests.support.explain_world import World, build_world

#: What the catalog marks as context (issue 19): renewal timing, contract, tenure, account facts.
CONTEXT = {"days_to_renewal", "contract_type", "contract_term_months", "tenure_days", "account_age_days", "segment",
           "industry", "region", "plan"}
REFERENCES = {"events_prev_30d", "active_users_prev_30d", "mrr_90d_ago", "nps_previous", "event_types_90d"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


def _context_specs(world: World) -> dict[str, FeatureSpec]:
    """The catalog entries of the model's features with the context ones marked (as the catalog marks them)."""
    cats = set(world.model.categorical_features_)
    out = {}
    for n in world.model.feature_names_:
        spec = spec_for(n, numeric=n not in cats)
        static = spec.description.startswith("Account attribute")
        out[n] = dataclasses.replace(spec, context=n in CONTEXT or static)
    return out


@pytest.fixture(scope="module")
def explained(world: World) -> list[Explanation]:
    return explain_frame(world.model, world.frame, top_n=4, specs=_context_specs(world))


def test_context_is_never_a_driver(world: World, explained: list[Explanation]) -> None:
    assert CONTEXT & set(world.model.feature_names_)
    specs = _context_specs(world)
    for e in explained:
        for r in (*e.drivers, *e.protective):
            assert not any(specs[f].context for f in r.features), (r.feature, r.sentence)
        assert all(specs[f].context for r in e.context for f in r.features)
    facts = [r.sentence for e in explained for r in e.context]
    assert any(s.startswith("Renewal in") for s in facts) and any(s.endswith(" contract") for s in facts)
    # context still counts in the score: its contributions are in the themes (and so in the totals)
    e = next(x for x in explained if x.context)
    assert e.base_value + sum(e.themes.values()) == pytest.approx(e.raw_score, abs=1e-9)


def test_the_catalogs_own_context_marks_are_obeyed(world: World) -> None:
    """With the catalog's own entries (no specs given), no feature the catalog marks as context is a driver."""
    for e in explain_frame(world.model, world.frame.iloc[::7]):
        assert not any(is_context(spec_for(f)) for r in (*e.drivers, *e.protective) for f in r.features)


def test_twins_show_once(explained: list[Explanation]) -> None:
    """`tenure_days` and `account_age_days` say the same thing: one fact, phrased by tenure."""
    for e in explained:
        twins = [r for r in (*e.drivers, *e.protective, *e.context)
                 if {"tenure_days", "account_age_days"} & set(r.features)]
        assert len(twins) <= 1
        assert all(set(r.features) == {"tenure_days", "account_age_days"} for r in twins)
        assert not any(r.sentence.startswith("Account created") for r in twins)
    assert any(r.sentence.startswith("Customer for ") for e in explained for r in e.context)


def test_a_reference_window_is_never_a_reason_of_its_own(world: World, explained: list[Explanation]) -> None:
    """The previous window is phrased with its pair ('..: 11, down from 16 in the 30 days before the last 30'),
    so it can never be listed against the movement."""
    for e in explained:
        for r in (*e.drivers, *e.protective):
            assert r.feature not in REFERENCES, r.sentence
    pairs = [r for e in explained for r in (*e.drivers, *e.protective) if "active_users_prev_30d" in r.features]
    assert pairs and all(r.feature == "active_users_30d" for r in pairs)


def test_pair_sentences_match_the_accounts_numbers(world: World, explained: list[Explanation]) -> None:
    rows = world.frame.reset_index(drop=True)
    checked = 0
    for i, e in enumerate(explained):
        for r in (*e.drivers, *e.protective):
            m = re.search(r": ([\d,.]+), (down|up) from ([\d,.]+)", r.sentence)
            if not m or r.feature not in ("events_30d", "active_users_30d"):
                continue
            value, ref = rows.loc[i, r.feature], rows.loc[i, spec_for(r.feature).reference]
            assert (value < ref) == (m[2] == "down"), r.sentence
            checked += 1
    assert checked > 50


def test_points_add_up_to_p_minus_base_p(world: World, explained: list[Explanation]) -> None:
    base = np.array([e.base_value for e in explained])
    base_p = world.model.calibrator_.transform(base)
    for e, bp in zip(explained, base_p, strict=True):
        assert e.base_probability == pytest.approx(bp, abs=1e-12)
        assert sum(e.theme_points.values()) == pytest.approx(100 * (e.probability - bp), abs=1e-9)
        for r in (*e.drivers, *e.protective, *e.context):
            assert r.points * r.contribution >= 0, r  # same direction in points and log-odds
        assert all(r.points >= 0 for r in e.drivers) and all(r.points <= 0 for r in e.protective)
        assert [r.points for r in e.drivers] == sorted((r.points for r in e.drivers), reverse=True)


def test_points_keep_each_side_when_drivers_and_protective_cancel() -> None:
    """Two-player Shapley: a +2 and a −2 log-odds unit on a base of −2 keep sizeable points each, not ~0 each."""
    from churnml.scoring.explain import probability_points

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    by_unit = np.array([[2.0, -2.0, 0.0]])
    base = np.array([-2.0])
    pts = probability_points(by_unit, base, sigmoid(base), sigmoid(base), sigmoid)
    assert pts.sum() == pytest.approx(0.0, abs=1e-12)
    assert pts[0, 0] > 15 and pts[0, 1] < -15 and pts[0, 2] == 0
    # and with one side only, the points are the whole probability move
    one = probability_points(np.array([[1.0, 0.5]]), base, sigmoid(base + 1.5), sigmoid(base), sigmoid)
    assert one.sum() == pytest.approx(100 * (sigmoid(np.float64(-0.5)) - sigmoid(np.float64(-2.0))))
    assert one[0, 0] / one[0, 1] == pytest.approx(2.0)


def test_theme_totals_are_their_listed_reasons_plus_other(explained: list[Explanation]) -> None:
    seen_other = False
    for e in explained[::5]:
        totals = e.theme_totals()
        assert sum(t.points for t in totals) == pytest.approx(100 * (e.probability - e.base_probability), abs=1e-9)
        listed = {id(r) for t in totals for r in (*t.drivers, *t.protective)}
        assert listed == {id(r) for r in (*e.drivers, *e.protective)}
        for t in totals:
            assert t.points == pytest.approx(sum(r.points for r in (*t.drivers, *t.protective)) + t.other, abs=1e-12)
            assert all(r.theme == t.theme for r in (*t.drivers, *t.protective))
            seen_other |= abs(t.other) > 0.5
    assert seen_other and OTHER == "other factors"


def test_stored_reasons_carry_points_and_context(world: World, tmp_path: Path) -> None:
    import json

    from churnml.scoring.table import score_accounts

    d = world.frame["as_of"].max()
    feats = world.frame[world.frame["as_of"] == d].drop(columns=["churned", "churn_date"]).reset_index(drop=True)
    out = score_accounts(world.model, feats, model_name="m", model_version=1)
    drivers = [r for x in out["risk_drivers"] for r in json.loads(x)]
    assert drivers and all({"points", "contribution", "sentence"} <= set(r) for r in drivers)
    assert all(isinstance(json.loads(x), list) for x in out["context_facts"])
    tp = pd.Series([sum(json.loads(x).values()) for x in out["theme_points"]])
    assert (tp.abs() < 100).all()



@pytest.mark.parametrize("top_n", [1, 3])
def test_rows_left_out_of_the_merging_search_get_what_the_search_gives(
    world: World, monkeypatch: pytest.MonkeyPatch, top_n: int
) -> None:
    """`slots.plain_rows` sends only rows where a shared-sentence group can reach the reasons through the search;
    every row through the search gives the same explanations (the search is the reference). Contributions are
    random and dense, so that shared-sentence groups are crowded in some rows and not in others."""
    from churnml.model.pyfunc import score_frame
    from churnml.scoring.explain import attribution

    frame = pd.concat([world.frame] * 2, ignore_index=True)  # enough rows for the bulk phrasing path too
    scores = score_frame(world.model, frame, explain=True)
    names = [c for c in scores.columns if c.startswith(attribution.CONTRIB_PREFIX)]
    rng = np.random.default_rng(5)
    dense = rng.normal(0, 0.4, (len(frame), len(names))) * (rng.random((len(frame), len(names))) < 0.6)
    scores[names] = dense
    scores[attribution.RAW_SCORE] = scores[attribution.BASE_VALUE] + dense.sum(axis=1)
    scores[attribution.PROBABILITY] = 1 / (1 + np.exp(-scores[attribution.RAW_SCORE]))
    fast = explain_frame(world.model, frame, top_n=top_n, scores=scores)
    seen: list[np.ndarray] = []
    criterion = attribution.plain_rows

    def everyone(by_unit: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        seen.append(criterion(by_unit, *args, **kwargs))  # what the criterion would have said
        return np.zeros(len(by_unit), dtype=bool)

    monkeypatch.setattr(attribution, "plain_rows", everyone)
    searched = explain_frame(world.model, frame, top_n=top_n, scores=scores)
    plain = np.concatenate(seen)
    assert plain.any() and (~plain).any()  # both paths are exercised
    assert fast == searched
