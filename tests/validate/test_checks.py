"""Validate names each defect of the simulator's messy data, scores checks by their weights and gates the run."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mmm_meridian.errors import ConfigError
from mmm_meridian.ingest.standardize import standardize, to_weekly
from mmm_meridian.validate import build_report, run_checks
from mmm_meridian.validate.checks import Check, Status, apply_thresholds, score


def _report(data: pd.DataFrame, cfg) -> dict:
    weekly, _ = to_weekly(standardize(data, cfg), cfg)
    report = build_report(run_checks(data, weekly, cfg), cfg)
    report["by_name"] = {c["name"]: c for c in report["checks"]}
    return report


@pytest.fixture(scope="module")
def messy_report(messy, demo_cfg) -> dict:
    return _report(messy.data, demo_cfg)


def test_each_defect_is_named(messy, messy_report):
    checks = messy_report["by_name"]
    assert checks["duplicate_rows"]["status"] == "warn"
    assert checks["duplicate_rows"]["details"]["by_kind"] == {"exact": 3, "split": 3, "conflicting": 3}
    weeks = sorted(str(pd.Timestamp(w).date()) for w in messy.log["missing_weeks"].details["weeks"])
    assert checks["missing_periods"]["details"]["missing_weeks"] == {"national": weeks}
    assert checks["missing_periods"]["status"] == "warn"  # 2 of 104 weeks: within max_missing_weeks_pct=2
    missing = checks["missing_values"]["details"]
    assert missing["paused_rows"] == {messy.log["paused_nan"].details["channel"]: 7}
    outage_channels = {g["channel"] for g in messy.log["outage_gap"].details["gaps"]}
    assert set(missing["outage_rows"]) == outage_channels
    flagged = checks["outliers"]["details"]
    outside = {f["date"] for f in flagged["outside_promo"] if f["column"] == "revenue"}
    inside = {f["date"] for f in flagged["inside_promo"] if f["column"] == "revenue"}
    assert outside == {str(d.date()) for d in messy.log["revenue_spike_non_promo"].rows["date_day"]}
    assert inside >= {str(d.date()) for d in messy.log["revenue_spike_promo"].rows["date_day"]}
    corr = checks["channel_correlation"]
    assert corr["status"] == "fail" and corr["details"]["max_pair"] == ["meta_facebook", "meta_instagram"]
    assert "meta_facebook / meta_instagram" in corr["message"]
    advice = {a["check"] for a in messy_report["common_adjustments"]}
    assert {"channel_correlation", "missing_periods", "outliers"} <= advice


def test_clean_data_passes(clean_daily, demo_cfg):
    report = _report(clean_daily, demo_cfg)
    assert report["passed"], report["failing_checks"]
    for name in ("duplicate_rows", "missing_values", "missing_periods", "channel_correlation", "min_weeks"):
        assert report["by_name"][name]["status"] == "pass", name
    revenue_flags = [f for f in report["by_name"]["outliers"]["details"]["outside_promo"] if f["column"] == "revenue"]
    assert revenue_flags == []


def test_every_check_reports_value_threshold_and_message(messy_report):
    for check in messy_report["checks"]:
        assert check["status"] in {"pass", "warn", "fail"}
        assert check["message"] and "threshold" in check and "value" in check
        assert check["severity"] in {"critical", "high", "medium", "low"}


def test_score_weights_and_critical_checks(demo_cfg):
    checks = [Check("min_weeks", "coverage_frequency", Status.passed, 60, 52, "ok"),
              Check("vif", "identifiability", Status.warn, 12, 10, "w"),
              Check("channel_correlation", "identifiability", Status.fail, 0.95, 0.9, "f")]
    qt = demo_cfg.validation.quality_thresholds
    apply_thresholds(checks, qt)
    assert score(checks) == pytest.approx((1 + 0.5 + 0) / 3)
    assert [c.severity for c in checks] == ["critical", "medium", "high"]
    apply_thresholds(checks, dataclasses.replace(qt, weights={"channel_correlation": 0.0}))
    assert score(checks) == pytest.approx(1.5 / 2)
    with pytest.raises(ConfigError, match="unknown check"):
        apply_thresholds(checks, dataclasses.replace(qt, critical_checks=["min_week"]))


def test_short_data_fails_the_critical_min_weeks(clean_daily, demo_cfg):
    short = clean_daily[clean_daily["date_day"] < pd.Timestamp("2022-07-04")]  # 26 weeks
    report = _report(short, demo_cfg)
    assert not report["passed"]
    assert report["critical_failures"] == ["min_weeks"]
    assert report["by_name"]["min_weeks"]["value"] == 26
