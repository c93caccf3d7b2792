"""Real data: the public churn data sets in ../shared/data/real, imported and trained through the product.

Each data set goes through its mapping in `configs/examples/` (`churnml.importer.import_data`), then
`churnml.training.tabular.train_snapshot` evaluates LightGBM (`ChurnModel`) and the logistic baseline with the same
split protocol as the reference figures in that folder's README (5-fold stratified CV; for the bigml 80/20
files, train on 80 and score 20). Writes the "Real data" section of docs/benchmarks.md.

    .venv/bin/python -m benchmarks.real_data [--real ../shared/data/real] [--only telco_ibm,oulad]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import machine, update_section
from churnml.importer import import_data
from churnml.training.tabular import MODEL_NAME, SnapshotConfig, load_snapshot, train_snapshot

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One data set: its folder, mapping, evaluation protocol and the README's reference ROC-AUC."""

    name: str
    folder: str
    mapping: str
    evaluation: str
    reference: str
    protocol: str
    exclude: tuple[str, ...] = ()


CASES = (
    Case("telco_ibm", "telco_ibm", "telco_ibm.yaml", "cv", "0.843 ± 0.011", "5-fold stratified CV"),
    Case("bigml_telecom", "bigml_telecom", "bigml_telecom.yaml", "cv", "0.921 ± 0.015", "5-fold stratified CV"),
    Case("bigml_telecom 80/20", "bigml_telecom", "bigml_telecom_80_20.yaml", "split", "0.907",
         "train on 80, score 20"),
    Case("oulad", "oulad", "oulad.yaml", "cv", "0.676 ± 0.004", "5-fold stratified CV"),
    # Like for like with the reference: demographics plus module and presentation, without the registration day
    # (a plain LightGBM on exactly these columns gives the README's 0.676; on the demographics alone, 0.647).
    Case("oulad, without registration day", "oulad", "oulad.yaml", "cv", "0.676 ± 0.004", "5-fold stratified CV",
         exclude=("date_registration",)),
)


def run_case(case: Case, real: Path, work: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    out = work / f"{case.mapping.removesuffix('.yaml')}{'_x' if case.exclude else ''}"
    report = import_data(real / case.folder, ROOT / "configs" / "examples" / case.mapping, out)
    t_import = time.perf_counter() - t0
    frame = load_snapshot(out)
    cfg = SnapshotConfig(evaluation=case.evaluation, exclude=list(case.exclude))  # type: ignore[arg-type]
    result = train_snapshot(frame, cfg, figures=False)
    lgb, lgb_sd = result.auc(MODEL_NAME)
    lr, lr_sd = result.auc("logistic")
    diff = result.intervals.differences.set_index(["versus", "metric"]).loc[("logistic", "roc_auc")]
    table = report.tables["snapshot"]
    return {
        "case": case, "rows": table.rows_written, "rejected": table.rows_rejected,
        "features": len(result.model.feature_names_), "lgb": lgb, "lgb_sd": lgb_sd, "lr": lr, "lr_sd": lr_sd,
        "lgb_pooled": result.interval(MODEL_NAME), "lr_pooled": result.interval("logistic"),
        "verdict": str(diff["verdict"]),
        "seconds_import": t_import, "seconds": time.perf_counter() - t0,
    }


def _auc(mean: float, sd: float, folds: bool) -> str:
    return f"{mean:.3f} ± {sd:.3f}" if folds else f"{mean:.3f}"


def _pooled(value_lo_hi: tuple[float, float, float]) -> str:
    v, lo, hi = value_lo_hi
    return f"{v:.3f} ({lo:.3f}–{hi:.3f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    args = ap.parse_args()
    wanted = {x.strip() for x in args.only.split(",") if x.strip()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="churnml_real_") as tmp:
        for case in CASES:
            if wanted and case.name not in wanted:
                continue
            r = run_case(case, args.real, Path(tmp))
            print(f"{case.name}: LightGBM {r['lgb']:.3f} ± {r['lgb_sd']:.3f}, logistic {r['lr']:.3f} "
                  f"(reference {case.reference}) in {r['seconds']:.0f} s", flush=True)
            rows.append(r)
    lines = [
        "| data set | rows imported (rejected) | features | protocol | LightGBM, pooled (95%) | logistic, pooled "
        "(95%) | LightGBM vs logistic | LightGBM, folds mean ± std | reference (README) | time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        case: Case = r["case"]  # type: ignore[assignment]
        folds = case.evaluation == "cv"
        lines.append(
            f"| {case.name} | {r['rows']:,} ({r['rejected']}) | {r['features']} | {case.protocol} | "
            f"{_pooled(r['lgb_pooled'])} | {_pooled(r['lr_pooled'])} | {r['verdict']} | "
            f"{_auc(r['lgb'], r['lgb_sd'], folds)} | {case.reference} | {r['seconds']:.0f} s |"
        )
    body = f"""Command: `.venv/bin/python -m benchmarks.real_data` ({machine()}; a shared machine, so times are rough).

The public data sets in `../shared/data/real/` (see its README for provenance and licences), each imported
through its mapping in `configs/examples/` with `churnml import`, then evaluated by `churnml train-snapshot`'s
code path (`churnml.training.tabular`): LightGBM (`ChurnModel`, early stopping and Platt calibration on a stratified
20% held back inside every training part) and the logistic baseline, on the same split protocol as the README's
reference (a plain LightGBM, 300 trees, measured outside churnml; quoted there as mean ± std over folds, so
churnml's is shown the same way beside it). No tuning on the evaluation folds: one set of snapshot defaults
(`churnml.training.tabular.DEFAULT_MODEL`) for all. "Pooled" is the ROC-AUC of every held-out prediction together
with its 95% interval from a bootstrap by customer (200 resamples); "LightGBM vs logistic" is the paired
difference with its own interval, in words that follow it (`churnml.training.bootstrap.verdict`).

{chr(10).join(lines)}

Leakage: oulad's `date_unregistration` is set only for students who withdrew (it is the label) and is not
imported; `final_result` is the label and `id_student` an identifier. The "oulad" row also uses the enrolment
facts known on the day a student enrols (module, presentation, registration day); "without registration day"
leaves that one out (`SnapshotConfig.exclude`), the feature set on which a plain LightGBM reproduces the
reference's 0.676 (on the eight demographic columns alone it gives 0.647, and so does churnml), to compare
like for like. telco and bigml keep every
attribute (none is written after the outcome). bigml has no customer id: the row number serves as one.
"""
    if not wanted:
        update_section("Real data", body)
    else:
        print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
