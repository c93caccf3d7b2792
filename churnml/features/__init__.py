"""Point-in-time-correct per-account features, defined once as Ibis expressions.

Public entry points: `feature_set` (lazy expression + registry entries), `compute_features` (pandas),
`build_training_frame` (features joined with labels), and the registry `FEATURES`.
"""

from churnml.features.catalog import FEATURES, FeatureSpec
from churnml.features.pipeline import (
    FeatureSet,
    available_specs,
    build_training_frame,
    compute_features,
    feature_set,
    finalise_frame,
    to_frame,
)

__all__ = [
    "FEATURES",
    "FeatureSet",
    "FeatureSpec",
    "available_specs",
    "build_training_frame",
    "compute_features",
    "feature_set",
    "finalise_frame",
    "to_frame",
]
