"""A small trained world for the serving tests: simulated data, two registered versions, two scorings stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from churnml.config import DataConfig, ServingConfig, Settings
from serving.auth import hash_key

READ_KEY = "read-key-for-tests-0123456789"
SCORE_KEY = "score-key-for-tests-9876543210"
#: A read key tied to a CSM (`csm_id`): the web page's "My accounts" lists that CSM's book.
CSM_KEY = "csm-key-for-tests-5555555555"
CSM_ID = "CSM000"


@dataclass
class ServingWorld:
    """Settings pointing at a work dir with a champion (v1) and a second version (v2, not promoted)."""

    settings: Settings
    dates: list[dt.date]
    frame_path: Path


def build_serving_world(root: Path) -> ServingWorld:
    """Simulate 150 accounts x 14 months, fit a tiny model, register it twice, promote v1, score two dates."""
    from churnml.lifecycle.registry import ModelRegistry
    from churnml.lifecycle.run_log import log_run
    from churnml.lifecycle.run_record import RunRecord
    from churnml.lifecycle.tracking import configure
    from churnml.scoring.job import run_scoring
    from tests.support.explain_world import build_world

    world = build_world(root)
    work = root / "work"
    client = configure(work)
    registry = ModelRegistry.from_work_dir(work)
    for i in range(2):
        run = log_run(client, RunRecord(world.model, world.frame.head(10), metrics={"roc_auc": 0.7 + i / 100},
                                        run_name=f"t{i}"))
        version = registry.register(run.run_id)
        if i == 0:
            registry.promote(version, "first champion")
    serving = ServingConfig(
        api_keys=[
            {"name": "reader", "role": "read", "hash": hash_key(READ_KEY)},
            {"name": "scorer", "role": "score", "hash": hash_key(SCORE_KEY)},
            {"name": "csm", "role": "read", "hash": hash_key(CSM_KEY), "csm_id": CSM_ID},
        ],
        reload_seconds=0,
        max_body_bytes=200_000,
        max_accounts=50,
    )
    settings = Settings(work_dir=work, data=DataConfig(dir=world.data), serving=serving)
    for d in world.dates[-2:]:
        run_scoring(settings, d)
    frame_path = root / "frame.parquet"
    world.frame.drop(columns=["churned", "churn_date"]).to_parquet(frame_path)
    return ServingWorld(settings, list(world.dates[-2:]), frame_path)
