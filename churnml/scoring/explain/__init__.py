"""Explanations: per-account reasons from SHAP contributions (`attribution`), their words (`sentences`), the
records they fill (`records`), and why a score moved between two scorings (`change`)."""

from churnml.scoring.explain.attribution import (
    DRIVERS,
    FAMILIES,
    MODEL_PART,
    PROTECTIVE,
    SHARED_SENTENCES,
    THEMES,
    Batch,
    Explanation,
    Reason,
    batch_arrays,
    explain_arrays,
    explain_batch,
    explain_frame,
    is_context,
    plan_for,
    probability_points,
)
from churnml.scoring.explain.change import ScoreChange, SignalMove, score_change
from churnml.scoring.explain.records import OTHER, ThemeTotal, group_by_theme, theme_totals
from churnml.scoring.explain.sentences import (
    MISSING,
    TEMPLATES,
    attribute_label,
    generic_sentence,
    pair_sentence,
    phrase,
    sentence_for,
    spec_for,
)

__all__ = [
    "DRIVERS", "FAMILIES", "MISSING", "MODEL_PART", "OTHER", "PROTECTIVE", "SHARED_SENTENCES", "TEMPLATES", "THEMES",
    "Batch", "Explanation", "Reason", "ScoreChange", "SignalMove", "ThemeTotal", "attribute_label", "batch_arrays",
    "explain_arrays", "explain_batch", "explain_frame", "generic_sentence", "group_by_theme", "is_context",
    "pair_sentence", "phrase", "plan_for", "probability_points", "score_change", "sentence_for", "spec_for",
    "theme_totals",
]
