"""VALIDATE (guide stage 2): score data quality and gate the run.

Reads ``ingest/standardized.parquet`` and ``ingest/weekly.parquet``; writes ``validation_report.json`` (score, passed,
every check, the common adjustments that apply, the lift tests checked) and prints a summary. Lift tests
(``calibration.experiments``, read from ``ingest/experiments.json``) are checked first and are not scored: a bad
row stops the stage with a ``DataError`` naming it (:mod:`mmm_meridian.validate.experiments`). When the gate fails
(score below ``min_validation_score`` or a critical check failed) and ``validation.override_gate`` is off, the stage raises a
``DataError`` naming the failing checks; since the runner discards a failed stage's folder, the report is also
written to ``<paths.artifacts>/validate_failed_report.json`` for the user to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.artifacts import dumps
from mmm_meridian.errors import DataError
from mmm_meridian.pipeline import StageContext
from mmm_meridian.tables import experiments as experiments_table
from mmm_meridian.tables.standardized import read_standardized
from mmm_meridian.validate.experiments import check_experiments, no_experiments
from mmm_meridian.validate.report import build_report, render_summary, run_checks

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`): the
# cleaning settings say which duplicates, gaps and outliers transform will repair, which the checks take into account.
READS: tuple[str, ...] = ("validation", "enhanced_cleaning")

FAILED_REPORT = "validate_failed_report.json"


def _short(message: str, limit: int = 400) -> str:
    return message if len(message) <= limit else message[: limit - 3].rsplit(" ", 1)[0] + "..."


def _experiments(ctx: StageContext, weekly: pd.DataFrame) -> dict[str, Any]:
    """The checked lift tests' report section (a bad row raises before anything else is checked)."""
    if ctx.cfg.calibration.experiments is None:
        return no_experiments()
    rows, source = experiments_table.read_artifact(ctx.input_path("ingest", experiments_table.ARTIFACT))
    section = check_experiments(rows, weekly, ctx.cfg, source)
    ctx.log.info("validate: %d lift test(s) checked: %s", section["tests"],
                 ", ".join(f"{ch} {v['tests']}" for ch, v in section["per_channel"].items()))
    return section


def run(ctx: StageContext) -> dict[str, Any]:
    std = read_standardized(ctx)
    weekly = pd.read_parquet(ctx.input_path("ingest", "weekly.parquet"))
    experiments = _experiments(ctx, weekly)
    report = build_report(run_checks(std, weekly, ctx.cfg), ctx.cfg)
    report["experiments"] = experiments
    ctx.out.write_json("validation_report.json", report)
    summary = render_summary(report)
    failed_path = Path(ctx.cfg.paths.artifacts) / FAILED_REPORT
    if report["passed"] or report["gate_overridden"]:
        failed_path.unlink(missing_ok=True)  # a stale failure report would contradict this run's own report
    if report["passed"]:
        ctx.log.info("validate: %s", summary)
    elif report["gate_overridden"]:
        ctx.log.warning("validate: %s", summary)
        ctx.log.warning("validate: the gate failed but validation.override_gate=true: continuing")
    else:
        ctx.log.error("validate: %s", summary)
        failed_path.parent.mkdir(parents=True, exist_ok=True)
        failed_path.write_text(dumps(report), encoding="utf-8")
        reasons = [f"{c['name']} ({_short(c['message'])})" for c in report["checks"] if c["status"] == "fail"]
        if report["score"] < report["min_validation_score"]:
            reasons.insert(0, f"score {report['score']:.2f} below {report['min_validation_score']:.2f}")
        raise DataError("data validation failed: " + "; ".join(reasons), where=str(failed_path),
                        fix="read the report, fix the data or the data config, or set validation.override_gate=true "
                            "to continue anyway")
    return {"score": report["score"], "passed": report["passed"], "failing": len(report["failing_checks"]),
            "warnings": len(report["warnings"]), "experiments": experiments["tests"]}
