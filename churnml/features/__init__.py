"""Point-in-time-correct per-account features, defined once as Ibis expressions.

Public entry points: `feature_set` (lazy expression + registry entries), `compute_features` (pandas),
and the registry `FEATURES` (the default configuration's; `catalog(settings.features)` for any other).
Features joined with labels for training are `churnml.training.frames.build_training_frame` (labels are the
training stage's; features never import it).
"""

from churnml.features.catalog import FEATURES, FeatureSpec, catalog
from churnml.features.pipeline import (
    FeatureSet,
    available_specs,
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
    "catalog",
    "compute_features",
    "feature_set",
    "finalise_frame",
    "to_frame",
]
