"""Example Dagster job + weekly schedule for churnml (not imported by churnml or its tests; needs dagster).

Load with `dagster dev -f deploy/dagster_job.py` from churnml's environment (install dagster there).
"""

from __future__ import annotations

from dagster import Definitions, Failure, OpExecutionContext, ScheduleDefinition, job, op


@op(config_schema={"config": str})
def weekly_retrain(context: OpExecutionContext) -> None:
    from pipelines.weekly_retrain import main

    code = main(["--config", context.op_config["config"]])
    if code != 0:
        raise Failure("churnml weekly job failed (see the logs and work/jobs/<week>/state.json)")


@job
def churnml_weekly() -> None:
    weekly_retrain()


defs = Definitions(
    jobs=[churnml_weekly],
    schedules=[ScheduleDefinition(job=churnml_weekly, cron_schedule="0 6 * * 1",
                                  run_config={"ops": {"weekly_retrain": {"config": {"config": "configs/default.yaml"}}}})],
)
