"""A serving app with plays: the serving world's scores copied to a fresh work dir, with open alerts, and a data
folder of its own for the intervention log (so recording plays never changes the shared world's data)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from churnml.config import PlaysConfig, Settings
from churnml.plays.alerts import CAUSE_COLUMNS
from churnml.plays.interventions import LOG_FILE
from churnml.plays.state import AlertStore
from churnml.scoring.store import STORE_FILE, ScoreStore
from serving.auth import hash_key
from tests.support.serving_world import ServingWorld

#: A key with role `write`, tied to a CSM: it may record plays done.
WRITE_KEY = "write-key-for-tests-2468024680"
WRITE_CSM = "CSM001"
WRITE = {"X-API-Key": WRITE_KEY}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class PlaysWorld:
    """The settings, the account with a routed alert, the one whose alert is held out, and the alert week."""

    settings: Settings
    routed: str
    held: str
    raised: dt.date
    scores: pd.DataFrame  # the latest stored scoring, by account_id

    @property
    def log(self) -> Path:
        return Path(self.settings.data.dir) / LOG_FILE

    def log_rows(self) -> pd.DataFrame:
        return pd.read_parquet(self.log) if self.log.exists() else pd.DataFrame(columns=["account_id", "ts", "play"])


def _causes(rows: list[tuple[str, dt.date, str]], scores: pd.DataFrame) -> pd.DataFrame:
    out = []
    for aid, day, cause in rows:
        s = scores.loc[aid]
        out.append([aid, day, cause, f"{cause} seen in the test", s["risk_band"], float(s["churn_probability"]),
                    float(s["mrr"]), ""])
    return pd.DataFrame(out, columns=CAUSE_COLUMNS)


def build_plays_world(world: ServingWorld, root: Path) -> PlaysWorld:
    """Week 1: a `detractor` alert for one account (routed, holdout 0); week 2: it is seen again and a second
    account gets a `renewal_at_risk` alert drawn into the holdout."""
    work, data = root / "work", root / "data"
    work.mkdir(parents=True)
    data.mkdir()
    shutil.copy(Path(world.settings.work_dir) / STORE_FILE, work / STORE_FILE)
    base = world.settings.model_dump()
    keys = [*base["serving"]["api_keys"], {"name": "writer", "role": "write", "hash": hash_key(WRITE_KEY),
                                            "csm_id": WRITE_CSM}]
    settings = Settings(**{**base, "work_dir": work, "data": {**base["data"], "dir": data},
                           "serving": {**base["serving"], "api_keys": keys}})
    scores = ScoreStore.from_work_dir(work).read(world.dates[-1]).set_index("account_id")
    ids = list(scores.sort_values("churn_probability", ascending=False).index)
    routed, held = ids[0], ids[1]
    store = AlertStore.from_work_dir(work)
    first, second = world.dates
    store.update(first, _causes([(routed, first, "detractor")], scores), PlaysConfig(holdout=0.0))
    plan = store.update(second, _causes([(routed, second, "detractor"), (held, second, "renewal_at_risk")], scores),
                        PlaysConfig(holdout=0.99, seed=1))
    assert plan.new["held_out"].tolist() == [True], plan.new  # the fixture needs one held-out alert
    return PlaysWorld(settings, routed, held, first, scores)


@contextmanager
def plays_client(pw: PlaysWorld, world: ServingWorld) -> Iterator[TestClient]:
    """A started app over the plays world, serving the world's registered model."""
    from serving.app import create_app
    from serving.model_holder import ModelHolder

    holder = ModelHolder(Path(world.settings.work_dir), world.settings.registry.name, world.settings.serving.alias)
    with TestClient(create_app(pw.settings, holder=holder), raise_server_exceptions=False) as c:
        yield c
