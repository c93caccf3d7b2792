"""A small simulated world and a tiny calibrated model fitted on it, for the explanation tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.model.model import ChurnModel

FAST = {"n_estimators": 40, "learning_rate": 0.15, "num_leaves": 7, "min_child_samples": 20, "num_threads": 1}


@dataclass
class World:
    """A small simulated world, its training frame and a tiny calibrated model fitted on it."""

    data: Path
    frame: pd.DataFrame
    model: ChurnModel
    dates: list[dt.date]


def build_world(root: Path) -> World:
    """Simulate 150 accounts × 14 months, build the training frame, fit a 40-tree model (a few seconds)."""
    from churnml.config import EventTypeFeaturesConfig, FeaturesConfig, Settings
    from churnml.data.load import load_data
    from churnml.simulate import simulate_world
    from churnml.training.frames import build_training_frame, training_dates

    data = root / "data"
    simulate_world(data, accounts=150, start=dt.date(2024, 1, 1), months=14, seed=3, progress=False)
    loaded = load_data(Settings(work_dir=root / "work"), data)
    dates = training_dates(loaded.tables, 14, 90)
    # A fixed feature set, without per-event-type columns (the product's default adds them): which facts and
    # signals the explanations show is what these tests check, and it should not move with a default.
    fixed = FeaturesConfig(event_types=EventTypeFeaturesConfig(select="none"))
    frame, _ = build_training_frame(loaded.tables, dates, features=fixed)
    labelled = frame[frame["churned"].notna()]
    cut = np.sort(labelled["as_of"].unique())[-4]
    train, calib = labelled[labelled["as_of"] <= cut], labelled[labelled["as_of"] > cut]
    model = ChurnModel(**FAST, calibration="sigmoid").fit(
        train, train["churned"], X_calib=calib, y_calib=calib["churned"]
    )
    return World(data, frame, model, dates)
