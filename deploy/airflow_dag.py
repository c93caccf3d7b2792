"""Example Airflow DAG for the churnml weekly job (not imported by churnml or its tests; needs apache-airflow).

The task runs the same entry point as cron, in churnml's own virtual environment, so Airflow's Python does not
need churnml's dependencies. Airflow retries are safe: the job is idempotent per ISO week and takes a lock.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

CHURNML = "/opt/churnml"

with DAG(
    dag_id="churnml_weekly",
    schedule="0 6 * * 1",
    start_date=dt.datetime(2025, 1, 6),
    catchup=False,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=15)},
    tags=["churnml"],
) as dag:
    BashOperator(
        task_id="weekly_retrain",
        # {{ ds }}: the run's logical date, so a backfill scores its own week
        bash_command=f"cd {CHURNML} && .venv/bin/python -m pipelines.weekly_retrain --as-of {{{{ ds }}}}",
        env={"MLFLOW_TRACKING_URI": "{{ var.value.get('mlflow_tracking_uri', '') }}"},
        append_env=True,
    )
