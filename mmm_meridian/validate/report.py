"""Run every check, score them, decide the gate, and say what to adjust (the guide's "Common Adjustments")."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmm_meridian.config.root import MMMConfig
from mmm_meridian.tables.weekly import detect_frequency
from mmm_meridian.validate import coverage, identifiability, sanity
from mmm_meridian.validate.checks import Check, Status, apply_thresholds, score

# Check name -> advice from the guide's "Common Adjustments" / "Common Issues" when the check is not a pass.
ADJUSTMENTS: dict[str, str] = {
    "channel_correlation": "High correlation between channels: review the media planning strategy (flight the "
                           "channels at different times, or merge them into one channel); the guide's adjustment is "
                           "to set validation.identifiability.max_channel_correlation to the level your team accepts",
    "vif": "Multicollinearity: same remedies as high channel correlation",
    "zero_spend_weeks": "Insufficient spend variation: ensure a test-and-learn approach (planned pauses or budget "
                        "changes); or lower validation.identifiability.min_zero_spend_weeks_pct for always-on media",
    "spend_variation": "Insufficient spend variation: ensure a test-and-learn approach; drop channels without variation",
    "missing_periods": "Missing data periods: investigate platform outages; keep "
                       "enhanced_cleaning.missing_data.outage_detection on, or adjust "
                       "validation.coverage_frequency.max_missing_weeks_pct",
    "missing_values": "Missing data periods: investigate platform outages; review "
                      "enhanced_cleaning.missing_data (pause_detection / outage_detection / kpi_policy)",
    "kpi_gaps": "Missing KPI periods: supply the missing revenue; otherwise keep those weeks out of the fit with "
                "enhanced_cleaning.missing_data.kpi_long_gaps=exclude rather than inventing them (interpolate)",
    "platform_roas": "Different ROI expectations: adjust validation.value_sanity.roi_range",
    "outliers": "Frequent promotions: map data.promo_col and keep enhanced_cleaning.outliers.exempt_promo_periods on; "
                "conservative approach: use a higher enhanced_cleaning.outliers.winsorize_percentile",
    "min_weeks": "Data requirements: provide at least 52 weeks (104+ recommended), or lower "
                 "validation.coverage_frequency.min_weeks_required knowingly",
    "preferred_weeks": "Data requirements: 104+ weeks (2+ years) are recommended for seasonal patterns",
    "parameters_vs_data": "Start with a simple model: fewer channels (merge small ones) or more weeks",
    "cost_per_unit_range": "Business rules: check the cost columns, or configure validation.value_sanity.cpm_range / "
                           "cpc_range for your market",
    "cost_per_unit_stability": "Business rules: adjust validation.value_sanity.metric_tolerance_pct if your costs "
                               "legitimately swing",
}
GATE_ADVICE = ("Strict data quality requirements: raise validation.quality_thresholds.min_validation_score; to run "
               "anyway on data that fails, set validation.override_gate=true (the report keeps saying it failed)")


def run_checks(std: pd.DataFrame, weekly: pd.DataFrame, cfg: MMMConfig,
               today: pd.Timestamp | None = None) -> list[Check]:
    """Every applicable check on the ingested rows (``std``: ``ingest/standardized.parquet``, the rows at the input's
    grain with canonical columns) and the weekly table (``weekly``: ``ingest/weekly.parquet``)."""
    frequency = cfg.data.frequency.value
    frequency = detect_frequency(std) if frequency == "auto" else frequency
    today = today if today is not None else pd.Timestamp.today().normalize()
    checks = [
        *coverage.week_checks(weekly, cfg),
        coverage.missing_periods(std, cfg, frequency),
        *coverage.calendar_checks(std, cfg, frequency, today),
        identifiability.correlation(weekly, cfg),
        identifiability.vif(weekly, cfg),
        *identifiability.variation(weekly, cfg),
        identifiability.parameters(weekly, cfg),
        *sanity.basic(std, cfg),
        sanity.missing_values(std, cfg),
        sanity.kpi_gaps(std, cfg, frequency),
        sanity.duplicates(std, cfg),
        *sanity.cost_per_unit(weekly, cfg),
        *sanity.platform_roas(weekly, cfg),
        sanity.outliers(std, weekly, cfg, frequency),
        *sanity.spend_delivery(std, cfg),
    ]
    apply_thresholds(checks, cfg.validation.quality_thresholds)
    return checks


def build_report(checks: list[Check], cfg: MMMConfig) -> dict[str, Any]:
    """Score, gate decision, failing checks and the adjustments that apply."""
    qt = cfg.validation.quality_thresholds
    value = score(checks)
    critical_failed = [c.name for c in checks if c.severity == "critical" and c.status == Status.fail]
    passed = value >= qt.min_validation_score and not critical_failed
    adjustments = [{"check": c.name, "advice": ADJUSTMENTS[c.name]} for c in checks
                   if c.status != Status.passed and c.name in ADJUSTMENTS]
    if not passed:
        adjustments.append({"check": "validation_score", "advice": GATE_ADVICE})
    counts = {s.value: sum(c.status == s for c in checks) for s in Status}
    return {
        "score": value, "min_validation_score": qt.min_validation_score, "passed": passed,
        "gate_overridden": bool(not passed and cfg.validation.override_gate),
        "critical_failures": critical_failed, "failing_checks": [c.name for c in checks if c.status == Status.fail],
        "warnings": [c.name for c in checks if c.status == Status.warn], "counts": counts,
        "checks": [c.to_dict() for c in checks], "common_adjustments": adjustments,
    }


def render_summary(report: dict[str, Any]) -> str:
    """The report as a plain-text table for the terminal."""
    verdict = "PASSED" if report["passed"] else ("FAILED (overridden)" if report["gate_overridden"] else "FAILED")
    lines = [f"data validation {verdict}: score {report['score']:.2f} (minimum {report['min_validation_score']:.2f}); "
             f"{report['counts']['pass']} pass, {report['counts']['warn']} warn, {report['counts']['fail']} fail"]
    width = max(len(c["name"]) for c in report["checks"])
    for check in report["checks"]:
        mark = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}[check["status"]]
        lines.append(f"  {mark} {check['name']:<{width}}  [{check['severity']}]  {check['message']}")
    for item in report["common_adjustments"]:
        lines.append(f"  -> {item['advice']}")
    return "\n".join(lines)
