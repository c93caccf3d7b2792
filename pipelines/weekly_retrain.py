"""The weekly job's entry point, for cron, Airflow, Prefect or Dagster (see deploy/ and docs/delivery.md).

Run: `python -m pipelines.weekly_retrain [OPTIONS]`, the same command and options as `churnml retrain` (this is
that command: `--config FILE`, `--as-of DATE`, `--data DIR`, `--push/--no-push`, `--to TARGET`, `--force`,
`--local-webhook`). Exit code 0 when the week succeeded (or was already done), 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run `churnml retrain` with `argv` (default: this process's arguments); returns its exit code."""
    from churnml.cli.app import app

    try:
        app(["retrain", *(sys.argv[1:] if argv is None else argv)], prog_name="weekly_retrain")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
