"""Reliability table: run the fault, bad-file and abuse tests (issue 20) and write their results and figures.

Runs the tests behind each promise of docs/reliability.md with pytest in a child process (a JUnit XML report:
outcome, seconds and the figures a test records with `record_property`), then `benchmarks/abuse.py` (good
clients' p95 under a flood of wrong keys), and writes the "Fault and abuse tests" section of
docs/reliability.md. A failed test is written as failed, not left out, and the exit status is 1.

    .venv/bin/python -m benchmarks.reliability [--no-abuse] [--abuse-seconds 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
SECTION = "Fault and abuse tests"


@dataclass(frozen=True)
class Case:
    """One probed case: its number in issue 20 (or the area it belongs to), what went wrong, the tests."""

    ref: str
    case: str
    tests: tuple[str, ...]


IT, D, C = "tests/integration", "tests/data/data", "tests/integration/crm"
CASES: tuple[Case, ...] = (
    Case("1", "webhook replay inside the window, Idempotency-Key removed or changed",
         (f"{C}/test_receiver.py::test_replay_inside_the_window_without_or_with_another_idempotency_key_is_not_"
          "delivered_again",)),
    Case("2", "wrong API keys and /login posts slow everyone (backoff, 429 + Retry-After)",
         (f"{IT}/serving/test_auth_backoff.py",)),
    Case("3", "login CSRF: a foreign Origin/Referer sets a session", (f"{IT}/serving/test_csrf.py",)),
    Case("4", "huge declared bodies and bodies that never arrive (receiver); API body limits",
         (f"{C}/test_receiver.py::test_huge_declared_bodies_are_refused_before_reading",
          f"{C}/test_receiver.py::test_a_body_that_never_arrives_times_out",
          f"{IT}/serving/test_api.py::test_payload_limits")),
    Case("5", "API values out of range, model-required attributes, scored_at offset, OpenAPI",
         (f"{IT}/serving/test_api.py::test_values_out_of_range_are_422",
          f"{IT}/serving/test_api.py::test_model_attribute_missing_is_422",
          f"{IT}/serving/test_api.py::test_scored_at_carries_its_offset",
          f"{IT}/serving/test_api.py::test_openapi_is_complete")),
    Case("6", "weekly job killed at every step boundary around promotion",
         (f"{IT}/jobs/test_weekly.py::test_a_week_killed_at_a_step_boundary_is_finished_consistently_by_the_rerun",
          f"{IT}/jobs/test_weekly.py::test_failure_after_promotion_puts_the_champion_back")),
    Case("7", "score store held by another process", (f"{IT}/scoring/test_store_lock.py",)),
    Case("8", "dead or silent MLflow tracking server", (f"{IT}/lifecycle/test_dead_server.py",)),
    Case("9", "zero-byte or truncated Parquet", (f"{D}/test_bad_files.py::test_unreadable_parquet_is_one_line_naming"
                                                 "_file_and_table",)),
    Case("10", "markup in ids; [check] tags kept",
         (f"{D}/test_bad_files.py::test_markup_in_ids_is_printed_as_is_and_check_tags_survive",)),
    Case("11", "huge values in messages", (f"{D}/test_bad_files.py::test_huge_values_are_cut_with_their_length",)),
    Case("12", "CSV row that does not fit its header",
         (f"{D}/test_bad_files.py::test_csv_row_that_does_not_fit_its_header_names_file_and_line",)),
    Case("13", "text timestamps with a UTC offset",
         (f"{D}/test_real_input.py::test_text_timestamps_with_an_offset_are_converted_to_utc_and_reported",)),
    Case("14", "empty tables",
         (f"{D}/test_bad_files.py::test_empty_tables_warn_and_features_cli_runs",
          f"{D}/test_real_input.py::test_empty_tables_pass_with_a_warning_and_features_and_labels_still_work")),
    Case("15", "`push --full` of a date already pushed",
         (f"{C}/test_push.py::test_full_push_of_a_date_already_pushed_sends_every_account",)),
    Case("push", "pusher SIGKILLed mid-push, CRM faults: every record exactly once",
         (f"{C}/test_kill.py", f"{C}/test_push.py::test_retries_exhausted_stop_the_push_and_the_next_push_resumes")),
    Case("scores", "failure mid-write or a bad batch leaves earlier scores intact",
         ("tests/unit/scoring/test_store.py::test_failure_mid_write_leaves_previous_scores_intact",
          "tests/unit/scoring/test_store.py::test_a_bad_batch_changes_nothing")),
    Case("API", "generated requests (schemathesis): no 5xx, answers match the schema",
         (f"{IT}/serving/test_schemathesis.py",)),
    Case("swap", "the served model swaps when the alias moves, in every worker, failing no request",
         (f"{IT}/serving/test_workers.py",
          f"{IT}/serving/test_model_holder.py::test_background_swaps_fail_no_request")),
)


@dataclass
class Outcome:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.figures: list[str] = []


def run_tests(cases: tuple[Case, ...]) -> dict[str, Outcome]:
    """Run every case's tests in one pytest child; return each case's outcome (by `Case.ref`)."""
    ids = [t for c in cases for t in c.tests]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                        "-o", "junit_family=xunit1", f"--junitxml={report}", *ids], cwd=ROOT, check=False)
        tree = ET.parse(report)
    by_case = {c.ref: Outcome() for c in cases}
    for tc in tree.iter("testcase"):
        file = (tc.get("file") or tc.get("classname", "").replace(".", "/") + ".py")
        node = f"{file}::{tc.get('name', '')}"
        for c in cases:
            if not any(node == t or node.startswith(t + "[") or node.startswith(t + "::")
                       or (t.endswith(".py") and node.startswith(t)) for t in c.tests):
                continue
            out = by_case[c.ref]
            out.seconds += float(tc.get("time", 0))
            if tc.find("failure") is not None or tc.find("error") is not None:
                out.failed += 1
            elif tc.find("skipped") is not None:
                out.skipped += 1
            else:
                out.passed += 1
            for prop in tc.iter("property"):
                out.figures.append(f"{prop.get('name')}: {prop.get('value')}")
    return by_case


def run_abuse(seconds: float) -> dict | None:
    """benchmarks/abuse.py's JSON summary (it also writes its section of docs/benchmarks.md)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.abuse", "--seconds", f"{seconds:g}", "--reuse"],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def table(cases: tuple[Case, ...], outcomes: dict[str, Outcome], abuse: dict | None, abuse_note: str) -> str:
    rows = ["| # | case | tests | result | seconds | figures |", "|---|---|---|---|---|---|"]
    for c in cases:
        o = outcomes[c.ref]
        total = o.passed + o.failed + o.skipped
        result = (f"{o.passed}/{total} passed" if o.failed == 0 and o.skipped == 0 and total
                  else f"**{o.failed} failed, {o.skipped} skipped, {o.passed} passed**")
        names = "<br>".join(f"`{t.split('/')[-1]}`" for t in c.tests)
        rows.append(f"| {c.ref} | {c.case} | {names} | {result} | {o.seconds:.1f} | "
                    f"{'; '.join(o.figures) or '—'} |")
    if abuse is None:
        rows.append(f"| 2 (load) | 32 good clients + 8 clients of wrong keys | `benchmarks/abuse.py` | {abuse_note} | "
                    "— | — |")
    else:
        verdict = "target met" if abuse["met"] else "**target NOT met**"
        rows.append(
            f"| 2 (load) | 32 good clients + 8 clients of wrong keys | `benchmarks/abuse.py` | {verdict} | — | "
            f"good p95 {abuse['abuse_p95_ms']:.0f} ms under abuse vs {abuse['baseline_p95_ms']:.0f} ms without: "
            f"{abuse['p95_ratio']:.2f}× (target ≤ 2×); 5xx: {abuse['five_xx']}; good requests not 2xx: "
            f"{abuse['good_failed']}; wrong keys 401 × {abuse['wrong_401']:,}, 429 × {abuse['wrong_429']:,} |")
    return "\n".join(rows)


def main() -> int:
    from benchmarks.report import machine, update_section

    ap = argparse.ArgumentParser()
    ap.add_argument("--no-abuse", action="store_true", help="Skip benchmarks/abuse.py (its row says so).")
    ap.add_argument("--abuse-seconds", type=float, default=10)
    args = ap.parse_args()
    t0 = time.perf_counter()
    outcomes = run_tests(CASES)
    abuse = None if args.no_abuse else run_abuse(args.abuse_seconds)
    note = "not run (`--no-abuse`)" if args.no_abuse else "**the benchmark failed to run**"
    failed = sum(o.failed + o.skipped for o in outcomes.values())
    tests = sum(o.passed + o.failed + o.skipped for o in outcomes.values())
    body = f"""Command: `.venv/bin/python -m benchmarks.reliability{" --no-abuse" if args.no_abuse else ""}` (run
{dt.date.today()}, {machine()}, {time.perf_counter() - t0:.0f} s in all). {tests} tests,
{tests - failed} passed{f", **{failed} failed or skipped**" if failed else ""}. Numbers in the first column are the
items of issue 20; the others are the promises this page makes beyond it. Figures are what the tests recorded
(`record_property`) and `benchmarks/abuse.py`'s load run; "seconds" is the tests' own run time.

{table(CASES, outcomes, abuse, note)}
"""
    update_section(SECTION, body, doc=DOC, header="# Reliability\n")
    print(body)
    return 0 if failed == 0 and (args.no_abuse or (abuse is not None and abuse["met"])) else 1


if __name__ == "__main__":
    raise SystemExit(main())
