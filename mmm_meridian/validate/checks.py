"""The result of one data-quality check, and the score and gate built from all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mmm_meridian.config.quality import QualityThresholdsConfig
from mmm_meridian.errors import ConfigError


class Status(StrEnum):
    passed = "pass"
    warn = "warn"
    fail = "fail"


ALL_CHECKS = (
    "min_weeks", "preferred_weeks", "missing_periods", "irregular_dates", "mixed_frequencies", "future_dates",
    "channel_correlation", "vif", "zero_spend_weeks", "spend_variation", "kpi_variation", "parameters_vs_data",
    "required_columns", "non_finite_values", "negative_values", "missing_values", "duplicate_rows",
    "cost_per_unit_range", "cost_per_unit_stability", "platform_roas", "outliers", "spend_delivery_mismatch",
    "kpi_gaps",
)
POINTS = {Status.passed: 1.0, Status.warn: 0.5, Status.fail: 0.0}
# Default weight per check: checks that rarely change what a model can learn weigh less.
DEFAULT_WEIGHTS = {"preferred_weeks": 0.5, "zero_spend_weeks": 0.5, "cost_per_unit_stability": 0.5,
                   "parameters_vs_data": 0.5}
# Severity shown to the user when a check is not critical.
SEVERITY = {"channel_correlation": "high", "spend_variation": "high", "kpi_variation": "high",
            "missing_periods": "high", "mixed_frequencies": "high", "future_dates": "medium",
            "duplicate_rows": "medium", "missing_values": "medium", "vif": "medium", "outliers": "medium",
            "spend_delivery_mismatch": "medium", "platform_roas": "medium", "cost_per_unit_range": "medium",
            "irregular_dates": "medium", "kpi_gaps": "high"}


@dataclass
class Check:
    """One check: what was measured, against what, and what it means for the user.

    Attributes:
        name: stable identifier (used by ``quality_thresholds.weights`` / ``critical_checks``).
        group: the config section it belongs to (coverage_frequency, identifiability, value_sanity).
        status: pass, warn or fail.
        value: the measured value.
        threshold: what it was compared with.
        message: one or two sentences a marketer understands.
        details: the evidence (channels, periods, counts).
        severity: critical (fails the gate on its own), high, medium or low.
        weight: its weight in the score.
    """

    name: str
    group: str
    status: Status
    value: Any
    threshold: Any
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "low"
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "status": self.status.value, "severity": self.severity,
                "weight": self.weight, "value": self.value, "threshold": self.threshold, "message": self.message,
                "details": self.details}


def grade(value: float, threshold: float, *, higher_is_better: bool, warn_margin: float | None = None) -> Status:
    """Pass when ``value`` is on the good side of ``threshold``; warn within ``warn_margin`` of it; else fail."""
    ok = value >= threshold if higher_is_better else value <= threshold
    if ok:
        return Status.passed
    if warn_margin is not None:
        near = value >= threshold - warn_margin if higher_is_better else value <= threshold + warn_margin
        if near:
            return Status.warn
    return Status.fail


def apply_thresholds(checks: list[Check], qt: QualityThresholdsConfig) -> None:
    """Set each check's weight and severity from the config; unknown names in the config are an error."""
    for key, listed in (("weights", list(qt.weights)), ("critical_checks", list(qt.critical_checks))):
        unknown = sorted(set(listed) - set(ALL_CHECKS))
        if unknown:
            raise ConfigError(f"validation.quality_thresholds.{key} names unknown check(s) {unknown}",
                              where=f"config key validation.quality_thresholds.{key}",
                              fix=f"use check names from {list(ALL_CHECKS)}")
    for check in checks:
        check.weight = float(qt.weights.get(check.name, DEFAULT_WEIGHTS.get(check.name, 1.0)))
        check.severity = "critical" if check.name in qt.critical_checks else SEVERITY.get(check.name, "low")


def score(checks: list[Check]) -> float:
    """Weighted share of points (pass 1, warn 0.5, fail 0); 1.0 when nothing has weight."""
    total = sum(c.weight for c in checks)
    if total == 0:
        return 1.0
    return round(sum(c.weight * POINTS[c.status] for c in checks) / total, 4)
