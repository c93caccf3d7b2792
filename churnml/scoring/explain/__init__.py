"""Explanations: per-account reasons from SHAP contributions (`attribution`), their words (`sentences`), and why a
score moved between two scorings (`change`)."""

from churnml.scoring.explain.attribution import (
    DRIVERS,
    FAMILIES,
    MODEL_PART,
    PROTECTIVE,
    SHARED_SENTENCES,
    THEMES,
    Explanation,
    Reason,
    explain_arrays,
    explain_frame,
    plan_for,
)
from churnml.scoring.explain.change import ScoreChange, score_change
from churnml.scoring.explain.sentences import (
    TEMPLATES,
    attribute_label,
    generic_sentence,
    phrase,
    sentence_for,
    spec_for,
)

__all__ = [
    "DRIVERS", "FAMILIES", "MODEL_PART", "PROTECTIVE", "SHARED_SENTENCES", "TEMPLATES", "THEMES", "Explanation",
    "Reason", "ScoreChange", "attribute_label", "explain_arrays", "explain_frame", "generic_sentence", "phrase",
    "plan_for", "score_change", "sentence_for", "spec_for",
]
