"""The hand-built baseline of the serving benchmark: what a team writes in an afternoon, competently.

FastAPI, a pydantic body, a pandas frame from the JSON, the model's `predict_proba`, `shap.TreeExplainer` (built
once at start-up) for the contributions, the top three each way in the answer. Same MLflow model, same
features, same request bodies as `churnml serve`; run with the same uvicorn workers and `OMP_NUM_THREADS=1`.
It neither phrases reasons nor validates ranges, so it does less per request than churnml.

    CHURNML_HANDBUILT_WORK=work/bench/serving/work uvicorn benchmarks.handbuilt_service:app --workers 2
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import pandas as pd
import shap
from fastapi import FastAPI
from pydantic import BaseModel

from churnml.lifecycle.tracking import configure
from churnml.model.pyfunc import load_churn_model

configure(os.environ["CHURNML_HANDBUILT_WORK"])
MODEL = load_churn_model(os.environ.get("CHURNML_HANDBUILT_URI", "models:/churn-risk/1"))
FEATURES = list(MODEL.feature_names_)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    EXPLAINER = shap.TreeExplainer(MODEL.booster_)

app = FastAPI(title="hand-built churn scorer")


class Account(BaseModel):
    account_id: str
    as_of: str | None = None
    features: dict[str, float | str | None]
    attributes: dict[str, float | str | None] = {}


class ScoreRequest(BaseModel):
    accounts: list[Account]


@app.post("/v1/score")
def score(request: ScoreRequest) -> dict[str, Any]:
    frame = pd.DataFrame([{**a.features, **a.attributes} for a in request.accounts])
    missing = [f for f in FEATURES if f not in frame.columns]
    if missing:
        return {"error": f"missing features: {missing}"}
    proba = MODEL.predict_proba(frame)[:, 1]
    values = EXPLAINER.shap_values(MODEL.prepare(frame), tree_limit=MODEL.best_iteration_)
    out = []
    for account, p, row in zip(request.accounts, proba, np.atleast_2d(values), strict=True):
        order = np.argsort(row)
        out.append({
            "account_id": account.account_id,
            "churn_probability": float(p),
            "risk_drivers": [{"feature": FEATURES[j], "contribution": float(row[j])} for j in order[::-1][:3]],
            "protective_factors": [{"feature": FEATURES[j], "contribution": float(row[j])} for j in order[:3]],
        })
    return {"accounts": out}
