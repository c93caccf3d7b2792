"""Example Prefect flow for the churnml weekly job (not imported by churnml or its tests; needs prefect).

Runs in churnml's environment (install prefect there). Deploy with e.g.
`prefect deploy deploy/prefect_flow.py:weekly --name churnml-weekly --cron "0 6 * * 1"`.
"""

from __future__ import annotations

from prefect import flow, task


@task(retries=2, retry_delay_seconds=900)
def weekly_retrain(config: str = "configs/default.yaml") -> None:
    from pipelines.weekly_retrain import main

    code = main(["--config", config])
    if code != 0:
        raise RuntimeError("churnml weekly job failed (see stderr and work/jobs/<week>/state.json)")


@flow(name="churnml-weekly")
def weekly(config: str = "configs/default.yaml") -> None:
    weekly_retrain(config)


if __name__ == "__main__":
    weekly()
