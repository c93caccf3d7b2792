"""Explanations: SHAP equals shap's, additivity on every row, sentences, direction, themes, why a score moved."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from churnml.model.model import BASE_VALUE, ChurnModel
from churnml.scoring.explain import (
    MODEL_PART,
    THEMES,
    Explanation,
    explain_frame,
    score_change,
    sentence_for,
)
from tests.support.explain_world import FAST, World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def explained(world: World) -> list[Explanation]:
    return explain_frame(world.model, world.frame, top_n=4)


# --------------------------------------------------------------------------- SHAP values


def test_contributions_equal_shap_tree_explainer(world: World) -> None:
    shap = pytest.importorskip("shap")
    model, rows = world.model, world.frame.head(300)
    ours = model.contributions(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(model.booster_)
        theirs = explainer.shap_values(model._matrix(rows), tree_limit=model.best_iteration_)
    np.testing.assert_allclose(ours.drop(columns=BASE_VALUE).to_numpy(), theirs, atol=1e-9)
    assert ours[BASE_VALUE].iloc[0] == pytest.approx(float(np.ravel(explainer.expected_value)[0]))


def test_contributions_equal_shaps_own_tree_algorithm(world: World) -> None:
    """On LightGBM, TreeExplainer calls pred_contrib itself; shap's own TreeSHAP is an independent check.

    It cannot read categorical splits, so the model here uses the numeric features only.
    """
    shap = pytest.importorskip("shap")
    frame = world.frame[world.frame["churned"].notna()]
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    model = ChurnModel(**{**FAST, "n_estimators": 15}, exclude=cats, calibration="none").fit(frame, frame["churned"])
    rows = frame.head(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(model.booster_)
        explainer.model.model_type = "internal"  # force shap's C++ TreeSHAP instead of LightGBM's
        theirs = explainer.shap_values(model._matrix(rows), check_additivity=False)
    np.testing.assert_allclose(model.contributions(rows).drop(columns=BASE_VALUE).to_numpy(), theirs, atol=1e-9)


def test_additivity_on_every_row(world: World, explained: list[Explanation]) -> None:
    raw = world.model.predict_raw(world.frame)
    prob = world.model.predict_proba(world.frame)[:, 1]
    assert len(explained) == len(world.frame)
    for e, r, p in zip(explained, raw, prob, strict=True):
        assert e.base_value + sum(e.themes.values()) == pytest.approx(r, abs=1e-9)
        assert e.raw_score == pytest.approx(r, abs=1e-9)
        assert e.probability == pytest.approx(p, abs=1e-12)
    contrib = world.model.contributions(world.frame)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, atol=1e-9)


# --------------------------------------------------------------------------- reasons


def test_direction_decides_the_list(world: World, explained: list[Explanation]) -> None:
    rows = world.frame.reset_index(drop=True)
    for i, e in enumerate(explained):
        assert all(r.contribution > 0 for r in e.drivers)
        assert all(r.contribution < 0 for r in e.protective)
        assert [r.contribution for r in e.drivers] == sorted((r.contribution for r in e.drivers), reverse=True)
        assert [r.contribution for r in e.protective] == sorted(r.contribution for r in e.protective)
        assert not {r.sentence for r in e.drivers} & {r.sentence for r in e.protective}
        if i % 97 == 0:  # the sentence is a fact about the account, the same whichever list it lands in
            values = rows.iloc[i].to_dict()
            for r in (*e.drivers, *e.protective):
                assert r.sentence == sentence_for(r.feature, values)


EVALUATIVE = re.compile(r"\b(risk|healthy|protect|good|bad|concern|worr|safe|danger|strong|weak)", re.I)


def test_sentences_state_facts_and_never_show_nan(explained: list[Explanation]) -> None:
    sentences = {r.sentence for e in explained for r in (*e.drivers, *e.protective)}
    assert len(sentences) > 200
    for s in sentences:
        assert not re.search(r"\bnan\b|\bNone\b|\bNaN\b|<NA>|inf\b", s), s
        assert not EVALUATIVE.search(s), s  # so a sentence cannot contradict its list
        assert s[0].isupper() or s[0].isdigit() or s[0] == "$", s


def test_risk_drivers_and_protective_factors_both_present(explained: list[Explanation]) -> None:
    assert sum(bool(e.drivers) for e in explained) > len(explained) / 2
    assert sum(bool(e.protective) for e in explained) > len(explained) / 2
    themes = {r.theme for e in explained for r in (*e.drivers, *e.protective)}
    assert {"usage", "sentiment", "commercial"} <= themes
    # account attributes (age, segment, industry) are context: shown beside the drivers, never among them
    assert "account" not in themes
    assert any(r.theme == "account" for e in explained for r in e.context)


def test_grouped_by_theme(explained: list[Explanation]) -> None:
    e = max(explained, key=lambda x: len({r.theme for r in (*x.drivers, *x.protective)}))
    grouped = e.grouped()
    assert list(grouped) == [t for t in THEMES if t in grouped]
    assert len(grouped) >= 2
    for theme, lists in grouped.items():
        assert all(r.theme == theme and r.contribution > 0 for r in lists["drivers"])
        assert all(r.theme == theme and r.contribution < 0 for r in lists["protective"])


def test_categorical_reasons_and_unseen_levels(world: World, explained: list[Explanation]) -> None:
    cats = set(world.model.categorical_features_)
    assert cats
    cat_reasons = [r for e in explained for r in (*e.drivers, *e.protective, *e.context) if r.feature in cats]
    assert cat_reasons and all(": " in r.sentence or r.sentence.endswith(" contract") for r in cat_reasons)
    rows = world.frame.head(5).copy()
    rows["contract_type"] = pd.Categorical(["biennial"] * 5)  # a level the model never saw
    out = explain_frame(world.model, rows)
    assert len(out) == 5 and all(math.isfinite(e.probability) for e in out)


def test_deterministic_and_independent_of_the_other_rows(world: World, explained: list[Explanation]) -> None:
    subset = world.frame.iloc[::13]
    again = explain_frame(world.model, subset, top_n=4)
    ref = [explained[i] for i in range(0, len(world.frame), 13)]
    # Reasons are identical; numbers agree to float rounding (TreeSHAP is summed per decision pattern of the batch).
    for a, b in zip(again, ref, strict=True):
        assert (a.account_id, a.drivers, a.protective) == (b.account_id, b.drivers, b.protective) or (
            [(r.feature, r.sentence) for r in (*a.drivers, *a.protective)]
            == [(r.feature, r.sentence) for r in (*b.drivers, *b.protective)])
        assert abs(a.probability - b.probability) < 1e-12 and abs(a.raw_score - b.raw_score) < 1e-12
        assert a.themes.keys() == b.themes.keys()
        assert all(abs(a.themes[k] - b.themes[k]) < 1e-12 for k in a.themes)


# --------------------------------------------------------------------------- why the score moved


def test_score_change_parts_add_up_and_read_well() -> None:
    prev = {"usage": -0.5, "support": 0.0, "sentiment": 0.1}
    cur = {"usage": 0.4, "support": 0.35, "sentiment": 0.2}
    p0, p1 = 0.10, 0.28
    base = -2.0
    ch = score_change(p0, prev, base, p1, cur, base, previous_model="v3", current_model="v3")
    assert ch.points == pytest.approx(18.0)
    assert sum(ch.parts.values()) == pytest.approx(18.0)
    assert MODEL_PART not in ch.parts and not ch.model_changed
    # proportional to each theme's log-odds change: 0.9 : 0.35 : 0.1
    assert ch.parts["usage"] / ch.parts["support"] == pytest.approx(0.9 / 0.35)
    assert ch.text() == "risk up 18 points: usage +12, support +5, sentiment +1"


def test_score_change_says_when_the_model_changed() -> None:
    ch = score_change(0.2, {"usage": 0.1}, -1.5, 0.15, {"usage": 0.0}, -1.6, previous_model="churn-risk v1",
                      current_model="churn-risk v2")
    assert ch.model_changed and MODEL_PART in ch.parts
    assert sum(ch.parts.values()) == pytest.approx(-5.0)
    assert ch.text().startswith("risk down 5 points")
    assert "model changed: churn-risk v1 → churn-risk v2" in ch.text()
    # same raw score, different calibrator: all of it is the model's
    same = score_change(0.2, {"usage": 0.1}, -1.5, 0.3, {"usage": 0.1}, -1.5, previous_model="a", current_model="b")
    assert same.parts[MODEL_PART] == pytest.approx(10.0) and same.parts["usage"] == 0


def test_score_change_between_two_real_scorings(world: World) -> None:
    frame = world.frame
    last, before = frame["as_of"].max(), np.sort(frame["as_of"].unique())[-2]
    a = frame[frame["as_of"] == before].set_index("account_id")
    b = frame[frame["as_of"] == last].set_index("account_id")
    common = a.index.intersection(b.index)[:40]
    ea = explain_frame(world.model, a.loc[common].reset_index())
    eb = explain_frame(world.model, b.loc[common].reset_index())
    for x, y in zip(ea, eb, strict=True):
        ch = score_change(x.probability, x.themes, x.base_value, y.probability, y.themes, y.base_value)
        assert ch.points == pytest.approx((y.probability - x.probability) * 100)
        assert sum(ch.parts.values()) == pytest.approx(ch.points, abs=1e-9)
        # a theme whose log-odds rose never gets a negative share of a rise (monotone calibration)
        for t, part in ch.parts.items():
            d = y.themes[t] - x.themes[t]
            assert part * d >= -1e-12


# --------------------------------------------------------------------------- phrasing only what can matter


def _edge_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame plus one row with every feature missing and one with every number zero."""
    missing = frame.iloc[[0]].copy()
    zeros = frame.iloc[[0]].copy()
    for c in frame.columns:
        if c in ("account_id", "as_of"):
            continue
        missing[c] = None if not pd.api.types.is_numeric_dtype(frame[c]) else np.nan
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            zeros[c] = 0
    return pd.concat([frame, missing.astype(frame.dtypes.to_dict()), zeros], ignore_index=True)


def test_units_phrasing_the_same_sentence_share_a_group(world: World) -> None:
    from churnml.scoring.explain import attribution as ex

    plan = ex._plan(world.model, None)
    frame = _edge_rows(world.frame.drop(columns=["churned", "churn_date"], errors="ignore"))
    cols = ex._columns(frame)
    clashes: set[tuple[str, str]] = set()
    for i in range(len(frame)):
        row = ex._Row(cols, i)
        seen: dict[str, int] = {}
        for k, unit in enumerate(plan.units):
            sentence = unit.phrase(row)
            j = seen.setdefault(sentence, k)
            if j != k and plan.groups[j] != plan.groups[k]:
                clashes.add((plan.units[j].spec.name, unit.spec.name))
    assert not clashes, f"units phrase equal sentences but share no SHARED_SENTENCES group: {sorted(clashes)}"
    # and the declared group is real: an account with no ticket closed reads the same from either feature
    assert sentence_for("effort_mean_90d", {"effort_mean_90d": None}) == sentence_for(
        "reopen_rate_90d", {"reopen_rate_90d": None}
    )


def test_skipping_unphrasable_units_changes_no_explanation(world: World, explained: list[Explanation],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.scoring.explain import attribution as ex

    plan_of = ex._plan

    def phrase_everything(model, specs):  # one group for all: every unit above the threshold is phrased
        plan = plan_of(model, specs)
        plan.groups = [0] * len(plan.units)
        return plan

    monkeypatch.setattr(ex, "_plan", phrase_everything)
    brute = explain_frame(world.model, world.frame, top_n=4)
    assert brute == explained


def test_remembered_sentences_equal_those_phrased_row_by_row(world: World, explained: list[Explanation]) -> None:
    from churnml.scoring.explain import attribution

    assert len(world.frame) >= attribution.MEMO_ROWS  # `explained` phrased with remembered sentences
    for i in range(0, len(world.frame), 17):  # one row: below MEMO_ROWS, every sentence phrased anew
        one = explain_frame(world.model, world.frame.iloc[[i]], top_n=4)[0]
        assert [r.sentence for r in (*one.drivers, *one.protective, *one.context)] == [
            r.sentence for r in (*explained[i].drivers, *explained[i].protective, *explained[i].context)]
