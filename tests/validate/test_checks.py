"""Validate names each defect of the simulator's messy data, scores checks by their weights and gates the run."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mmm_meridian.config.quality import KpiLongGapPolicy, KpiMissingPolicy
from mmm_meridian.errors import ConfigError
from mmm_meridian.ingest.standardize import standardize
from mmm_meridian.tables.gaps import long_kpi_gaps
from mmm_meridian.tables.weekly import to_weekly
from mmm_meridian.validate import build_report, run_checks
from mmm_meridian.validate.checks import Check, Status, apply_thresholds, score


def _report(data: pd.DataFrame, cfg) -> dict:
    std = standardize(data, cfg)  # as ingest writes it (ingest/standardized.parquet)
    weekly, _ = to_weekly(std, cfg)
    report = build_report(run_checks(std, weekly, cfg), cfg)
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


def _revenue_hole(daily: pd.DataFrame, first_day: int, days: int) -> pd.DataFrame:
    """``daily`` with the revenue cells of ``days`` consecutive days, ``first_day`` days in, left empty."""
    holed = daily.copy()
    holed.loc[holed.index[first_day:first_day + days], "all_purchases_original_price"] = float("nan")
    return holed


def test_a_long_kpi_gap_fails_the_gate_as_a_critical_check(clean_daily, demo_cfg):
    # 21 weeks (20 % of the 104-week history) without revenue, from Monday 2022-02-07 (day 35) to Sunday 2022-07-03.
    report = _report(_revenue_hole(clean_daily, 35, 21 * 7), demo_cfg)
    check = report["by_name"]["kpi_gaps"]
    assert not report["passed"]
    assert report["critical_failures"] == ["kpi_gaps"]
    assert check["status"] == "fail" and check["severity"] == "critical" and check["value"] == 147
    assert check["details"]["gaps"] == [{"series": "national", "first": "2022-02-07", "last": "2022-07-03",
                                         "periods": 147, "days": 147, "share_pct": 20.19}]
    assert ("revenue (column 'all_purchases_original_price') is missing for 147 days (21.0 weeks) in series "
            "[organisation_id=brand_a, territory_name=GB], 2022-02-07 to 2022-07-03 (20% of the history)"
            in check["message"])
    assert "kpi_long_gaps=exclude" in check["message"]
    assert "kpi_gaps" in {a["check"] for a in report["common_adjustments"]}


def test_a_short_kpi_gap_passes_and_a_chosen_treatment_warns(clean_daily, demo_cfg):
    short = _report(_revenue_hole(clean_daily, 35, 14), demo_cfg)  # 14 days = max_gap_days: interpolated as before
    assert short["by_name"]["kpi_gaps"]["status"] == "pass"
    assert short["by_name"]["missing_values"]["details"]["kpi_missing_rows"] == 14
    long_hole = _revenue_hole(clean_daily, 35, 15)
    assert _report(long_hole, demo_cfg)["by_name"]["kpi_gaps"]["status"] == "fail"  # one day over the limit
    md = demo_cfg.enhanced_cleaning.missing_data
    for changes, words in (({"kpi_long_gaps": KpiLongGapPolicy.exclude}, "kept out of the model's fit"),
                           ({"kpi_long_gaps": KpiLongGapPolicy.interpolate}, "invented sales"),
                           ({"kpi_policy": KpiMissingPolicy.drop}, "dropped")):
        cfg = dataclasses.replace(demo_cfg, enhanced_cleaning=dataclasses.replace(
            demo_cfg.enhanced_cleaning, missing_data=dataclasses.replace(md, **changes)))
        report = _report(long_hole, cfg)
        assert report["by_name"]["kpi_gaps"]["status"] == "warn", changes
        assert words in report["by_name"]["kpi_gaps"]["message"]
        assert "kpi_gaps" not in report["critical_failures"]
    strict = dataclasses.replace(demo_cfg, enhanced_cleaning=dataclasses.replace(
        demo_cfg.enhanced_cleaning, missing_data=dataclasses.replace(md, kpi_policy=KpiMissingPolicy.fail,
                                                                     kpi_long_gaps=KpiLongGapPolicy.exclude)))
    refused = _report(long_hole, strict)["by_name"]["kpi_gaps"]  # kpi_policy=fail overrides the long-gap choice
    assert refused["status"] == "fail" and "kpi_policy=fail stops transform" in refused["message"]


def test_absent_weekly_rows_count_as_a_kpi_gap():
    weeks = pd.date_range("2022-01-03", periods=60, freq="7D")
    std = pd.DataFrame({"time": weeks, "geo": "GB", "revenue": 100.0})
    std.loc[10, "revenue"] = float("nan")  # a missing cell right before three absent weeks: one gap of four
    std = std[~std["time"].between(pd.Timestamp("2022-03-21"), pd.Timestamp("2022-04-04"))]
    gaps = long_kpi_gaps(std, "weekly", 14)
    assert [(str(g.series), str(g.first.date()), str(g.last.date()), g.periods, g.days) for g in gaps] == [
        ("GB", "2022-03-14", "2022-04-04", 4, 28)]
    assert gaps[0].describe() == "4 weeks in GB, 2022-03-14 to 2022-04-04 (7% of the history)"
    assert long_kpi_gaps(std, "weekly", 28) == []


def test_organic_media_and_treatments_count_as_parameters_against_the_data(make_cfg):
    from mmm_meridian.validate.identifiability import PARAMS_PER_CHANNEL, parameters

    weekly = pd.DataFrame({"time": pd.date_range("2023-01-02", periods=104, freq="7D"), "geo": "national"})
    base = parameters(weekly, make_cfg()).details["parameters"]
    more = parameters(weekly, make_cfg("++data.organic_map.newsletter=sends",
                                       "data.non_media_treatments=[price_index]")).details["parameters"]
    assert more - base == PARAMS_PER_CHANNEL + 1
