"""Each cleaning rule repairs its defect of the simulator's messy data, checked against the known clean rows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.config.quality import (
    ConflictPolicy,
    ImputationStrategy,
    KpiLongGapPolicy,
    KpiMissingPolicy,
    OutlierPolicy,
)
from mmm_meridian.errors import ConfigError, DataError, UserError
from mmm_meridian.ingest.standardize import standardize
from mmm_meridian.transform import transform
from mmm_meridian.transform.cleaning_log import CleaningLog
from mmm_meridian.transform.duplicates import resolve_duplicates
from mmm_meridian.transform.missing import impute_missing
from mmm_meridian.transform.outliers import cap_outliers
from tests.transform.messy_data import rows_of


def _with(cfg, **cleaning):
    """A copy of cfg with enhanced_cleaning sub-sections replaced (e.g. missing_data={'strategy': ...})."""
    ec = cfg.enhanced_cleaning
    parts = {name: dataclasses.replace(getattr(ec, name), **values) for name, values in cleaning.items()}
    return dataclasses.replace(cfg, enhanced_cleaning=dataclasses.replace(ec, **parts))


def _transform(data: pd.DataFrame, cfg):
    """Transform as its stage runs it: on the rows ingest standardized (``ingest/standardized.parquet``)."""
    return transform(standardize(data, cfg), cfg)


@pytest.fixture(scope="module")
def std_pair(messy, demo_cfg):
    return standardize(messy.data, demo_cfg), standardize(messy.clean, demo_cfg)


@pytest.fixture(scope="module")
def deduped(std_pair, demo_cfg):
    log = CleaningLog()
    return resolve_duplicates(std_pair[0], demo_cfg, log), log


@pytest.fixture(scope="module")
def imputed(deduped, demo_cfg):
    log = CleaningLog()
    out, dropped = impute_missing(deduped[0], demo_cfg, "daily", log)
    return out, dropped, log


def test_duplicates_are_classified_and_repaired_to_the_clean_rows(messy, std_pair, deduped):
    out, log = deduped
    clean = std_pair[1]
    assert not out.duplicated([F.GEO, F.TIME]).any()
    kinds = pd.Series([c.rule for c in log.changes]).value_counts().to_dict()
    assert kinds == {"duplicates.conflicting": 3, "duplicates.split": 3, "duplicates.exact": 3}
    for defect in ("split_duplicates", "exact_duplicates", "conflicting_duplicates"):  # keep_first = the original
        keys = messy.log[defect].rows
        pd.testing.assert_frame_equal(rows_of(out, keys), rows_of(clean, keys), check_exact=False, rtol=1e-12)
    split = [c for c in log.changes if c.rule == "duplicates.split"]
    assert all(c.extra["total_change_by_column"] == {} for c in split)  # summing split rows keeps totals
    exact_change = log.summary_by_rule()["duplicates.exact"]["total_change_by_column"][F.REVENUE]
    assert exact_change == pytest.approx(-rows_of(clean, messy.log["exact_duplicates"].rows)[F.REVENUE].sum())


@pytest.mark.parametrize("policy, expected", [(ConflictPolicy.keep_last, "extra"), (ConflictPolicy.aggregate, "sum")])
def test_conflicting_policy(messy, std_pair, demo_cfg, policy, expected):
    cfg = _with(demo_cfg, duplicates={"conflicting": policy})
    out = resolve_duplicates(std_pair[0], cfg, CleaningLog())
    keys = messy.log["conflicting_duplicates"].rows
    extra = messy.log["conflicting_duplicates"].details["conflicting_rows"]
    original = rows_of(std_pair[1], keys)[F.REVENUE].to_numpy()
    want = extra["all_purchases_original_price"].to_numpy() + (original if expected == "sum" else 0)
    np.testing.assert_allclose(rows_of(out, keys)[F.REVENUE].to_numpy(), want)


def test_conflicting_policy_fail(std_pair, demo_cfg):
    with pytest.raises(DataError, match="conflicting rows"):
        resolve_duplicates(std_pair[0], _with(demo_cfg, duplicates={"conflicting": ConflictPolicy.fail}),
                           CleaningLog())


def test_paused_stretch_is_filled_with_zero(messy, std_pair, imputed):
    out, _, log = imputed
    channel = messy.log["paused_nan"].details["channel"]
    keys = messy.log["paused_nan"].rows
    cols = [F.spend(channel), F.impressions(channel), F.clicks(channel)]
    repaired = rows_of(out, keys)[cols]
    assert (repaired.to_numpy() == 0).all()
    np.testing.assert_array_equal(repaired.to_numpy(), rows_of(std_pair[1], keys)[cols].to_numpy())
    assert {c.column for c in log.changes if c.rule == "missing.pause_zero"} == set(cols)


def test_outage_gaps_are_rebuilt_close_to_the_truth(messy, std_pair, imputed):
    out, _, log = imputed
    for gap in messy.log["outage_gap"].details["gaps"]:
        days = pd.date_range(gap["start"], gap["end"])
        keys = pd.DataFrame({"date_day": days})
        for col in gap["columns"]:
            repaired = rows_of(out, keys)[col].to_numpy()
            truth = rows_of(std_pair[1], keys)[col].to_numpy()
            assert np.isfinite(repaired).all()
            np.testing.assert_allclose(repaired, truth, rtol=0.15)  # a rebuilt value, not a copy
    assert {c.rule for c in log.changes} >= {"missing.outage_interpolate", "missing.period_inserted"}


def test_missing_weeks_are_inserted_and_interpolated(messy, std_pair, imputed):
    out, dropped, _ = imputed
    assert dropped.empty
    keys = messy.log["missing_weeks"].rows
    assert len(keys) == 14
    repaired, truth = rows_of(out, keys), rows_of(std_pair[1], keys)
    for col in (F.REVENUE, F.spend("google_search")):
        assert repaired[col].notna().all()
        assert repaired[col].sum() == pytest.approx(truth[col].sum(), rel=0.3)
    model_cols = [c for c in out.columns if c not in (F.TIME, F.GEO, "_inserted")]
    assert not out[model_cols].isna().any().any()


def test_switches_change_the_rule(deduped, demo_cfg):
    std = deduped[0]
    rules = {}
    for name, md in (("no_pause", {"pause_detection": False}), ("no_outage", {"outage_detection": False}),
                     ("simple", {"strategy": ImputationStrategy.simple})):
        log = CleaningLog()
        impute_missing(std, _with(demo_cfg, missing_data=md), "daily", log)
        rules[name] = {c.rule for c in log.changes}
    assert "missing.pause_zero" not in rules["no_pause"] and "missing.interpolate" in rules["no_pause"]
    assert "missing.outage_interpolate" not in rules["no_outage"] and "missing.zero_fill" in rules["no_outage"]
    assert "missing.simple_interpolate" in rules["simple"] and "missing.pause_zero" not in rules["simple"]


def test_missing_kpi_policies(deduped, demo_cfg):
    std = deduped[0].copy()
    hole = std.index[200:203]
    std.loc[hole, F.REVENUE] = np.nan
    log = CleaningLog()
    out, _ = impute_missing(std, demo_cfg, "daily", log)
    kpi = [c for c in log.changes if c.rule == "missing.kpi_interpolate"]
    assert sum(c.rows for c in kpi) == 3 + 14  # the hole plus the two absent weeks
    assert out[F.REVENUE].notna().all()
    with pytest.raises(DataError, match="KPI"):
        impute_missing(std, _with(demo_cfg, missing_data={"kpi_policy": KpiMissingPolicy.fail}), "daily",
                       CleaningLog())
    _, dropped = impute_missing(std, _with(demo_cfg, missing_data={"kpi_policy": KpiMissingPolicy.drop}), "daily",
                                CleaningLog())
    assert len(dropped) == 3 + 14


def _assert_repaired(repaired: pd.DataFrame, clean: pd.DataFrame, slack: float = 1.3) -> None:
    """Each repaired spike is back near the range the clean revenue spans in the fortnight around it (a p99 cap
    sits a little above a fortnight's maximum), far below the 5x spike."""
    for _, row in repaired.iterrows():
        window = clean[(clean[F.TIME] - row[F.TIME]).abs() <= pd.Timedelta(days=7)][F.REVENUE]
        truth = clean.loc[clean[F.TIME] == row[F.TIME], F.REVENUE].iloc[0]
        assert row[F.REVENUE] <= slack * window.max(), (row[F.TIME], row[F.REVENUE], window.max())
        assert row[F.REVENUE] < 3 * truth  # the spike was 5x the truth


def test_spikes_capped_outside_promotions_only(messy, imputed, demo_cfg, std_pair):
    data = imputed[0]
    clean = std_pair[1]
    log = CleaningLog()
    out = cap_outliers(data, demo_cfg, "daily", log)
    outside = messy.log["revenue_spike_non_promo"].rows
    inside = messy.log["revenue_spike_promo"].rows
    _assert_repaired(rows_of(out, outside), clean)
    pd.testing.assert_series_equal(rows_of(out, inside)[F.REVENUE], rows_of(data, inside)[F.REVENUE])
    change = log.summary_by_rule()["outliers.contextual_winsorization"]
    assert change["total_change_by_column"][F.REVENUE] < 0
    no_exempt = cap_outliers(data, _with(demo_cfg, outliers={"exempt_promo_periods": False}), "daily",
                             CleaningLog())
    assert (rows_of(no_exempt, inside)[F.REVENUE] < rows_of(data, inside)[F.REVENUE]).all()
    iqr = cap_outliers(data, _with(demo_cfg, outliers={"policy": OutlierPolicy.iqr}), "daily", CleaningLog())
    _assert_repaired(rows_of(iqr, outside), clean, slack=1.5)  # Q3 + 3 IQR is a looser cap than p99
    untouched = cap_outliers(data, _with(demo_cfg, outliers={"policy": OutlierPolicy.none}), "daily", CleaningLog())
    pd.testing.assert_frame_equal(untouched, data)


def test_transform_end_to_end_weekly_totals(messy, demo_cfg):
    weekly, report = _transform(messy.data, demo_cfg)
    clean, _ = _transform(messy.clean, _with(demo_cfg, outliers={"policy": OutlierPolicy.none}))
    assert not weekly.drop(columns=[F.TIME, F.GEO]).isna().any().any()
    assert len(weekly) == len(clean) == 104
    spend_cols = [F.spend(ch) for ch in demo_cfg.data.channel_map]
    # 2 of 104 weeks are rebuilt by interpolation, so totals agree to ~2%, not exactly
    np.testing.assert_allclose(weekly[spend_cols].sum(), clean[spend_cols].sum(), rtol=0.02)
    promo_spikes = messy.log["revenue_spike_promo"]
    kept = (promo_spikes.details["factor"] - 1) * promo_spikes.original["all_purchases_original_price"].sum()
    assert weekly[F.REVENUE].sum() == pytest.approx(clean[F.REVENUE].sum() + kept, rel=0.005)  # promo peaks are kept
    ledger = report["totals"]
    assert report["total_change"][F.REVENUE] == pytest.approx(ledger["output"][F.REVENUE] - ledger["input"][F.REVENUE])
    by_rule = report["by_rule"]
    moved = sum(v["total_change_by_column"].get(F.REVENUE, 0.0) for v in by_rule.values())
    assert moved == pytest.approx(report["total_change"][F.REVENUE], rel=1e-6)  # every change is accounted for


def _revenue_hole(daily: pd.DataFrame, first_day: int, days: int) -> pd.DataFrame:
    holed = daily.copy()
    holed.loc[holed.index[first_day:first_day + days], "all_purchases_original_price"] = np.nan
    return holed


def test_a_long_kpi_gap_is_never_invented_by_default(clean_daily, demo_cfg):
    holed = _revenue_hole(clean_daily, 35, 21 * 7)  # 2022-02-07 .. 2022-07-03: 21 weeks
    with pytest.raises(DataError) as caught:
        _transform(holed, demo_cfg)
    assert ("missing for 147 days (21.0 weeks) in series [organisation_id=brand_a, territory_name=GB], "
            "2022-02-07 to 2022-07-03" in caught.value.what)
    assert "kpi_long_gaps=exclude" in caught.value.fix
    assert caught.value.where == "column 'all_purchases_original_price'"


def test_excluded_kpi_weeks_keep_a_placeholder_and_are_listed(clean_daily, demo_cfg):
    # Wednesday 2022-02-09 .. Friday 2022-07-01 (143 days): the two partly missing weeks are excluded whole.
    holed = _revenue_hole(clean_daily, 37, 143)
    # Outlier capping off: its caps depend on which days are observed, and this test compares with the full data.
    cfg = _with(demo_cfg, missing_data={"kpi_long_gaps": KpiLongGapPolicy.exclude},
                outliers={"policy": OutlierPolicy.none})
    weekly, report = _transform(holed, cfg)
    expected = [str(d.date()) for d in pd.date_range("2022-02-07", "2022-06-27", freq="7D")]
    assert report["kpi_excluded_weeks"] == {"national": expected}
    assert weekly[F.REVENUE].notna().all() and np.isfinite(weekly[F.REVENUE]).all()
    placeholders = [c for c in report["changes"] if c["rule"] == "missing.kpi_excluded_placeholder"]
    assert sum(c["rows"] for c in placeholders) == 143
    assert report["kpi_placeholder_total"] == pytest.approx(sum(c["total_change"] for c in placeholders))
    assert report["kpi_placeholder_total"] > 0
    assert any("kept out of the model's fit" in w for w in report["warnings"])
    # The weeks outside the gap keep their observed revenue exactly (nothing else was invented or moved).
    truth, _ = _transform(clean_daily, _with(demo_cfg, outliers={"policy": OutlierPolicy.none}))
    outside = ~weekly[F.TIME].isin(pd.to_datetime(expected))
    np.testing.assert_allclose(weekly.loc[outside, F.REVENUE], truth.loc[outside.to_numpy(), F.REVENUE])
    assert report["by_rule"]["missing.kpi_week_excluded"]["rows"] == 21


def test_interpolating_a_long_kpi_gap_is_an_explicit_choice(clean_daily, demo_cfg):
    holed = _revenue_hole(clean_daily, 35, 21 * 7)
    cfg = _with(demo_cfg, missing_data={"kpi_long_gaps": KpiLongGapPolicy.interpolate})
    weekly, report = _transform(holed, cfg)
    assert report["kpi_excluded_weeks"] == {}
    assert report["by_rule"]["missing.kpi_interpolate_long_gap"]["rows"] == 147
    assert any("interpolated" in w and "revenue" in w for w in report["warnings"])
    assert weekly[F.REVENUE].notna().all()


@pytest.mark.parametrize("data", ["messy", "clean"])
def test_a_rule_for_an_unknown_column_is_refused(std_pair, demo_cfg, data):
    std = std_pair[0] if data == "messy" else std_pair[1]  # refused with or without duplicate rows to resolve
    cfg = _with(demo_cfg, duplicates={"non_additive_rules": {"avg_prcie": "max"}})
    with pytest.raises(ConfigError) as info:
        resolve_duplicates(std, cfg, CleaningLog())
    assert isinstance(info.value, UserError)
    assert info.value.what == "enhanced_cleaning.duplicates.non_additive_rules names unknown column 'avg_prcie'"
    assert info.value.where == "config key enhanced_cleaning.duplicates.non_additive_rules.avg_prcie"
    additive_cols = F.additive_columns(list(demo_cfg.data.channel_map), list(std.columns))
    known = sorted(c for c in std.columns if c not in (F.GEO, F.TIME, *additive_cols))
    assert "avg_price" in known and F.PROMO in known
    assert info.value.fix == f"use a non-additive column of the data (canonical names): {known}"
    additive = _with(demo_cfg, duplicates={"non_additive_rules": {F.REVENUE: "max"}})
    with pytest.raises(ConfigError, match="names 'revenue', an additive column"):
        resolve_duplicates(std, additive, CleaningLog())


def test_a_rule_for_a_known_column_changes_the_split_rows(std_pair, demo_cfg):
    clean = std_pair[1]
    additive = F.additive_columns(list(demo_cfg.data.channel_map), list(clean.columns))
    first, second = clean.iloc[[10]].copy(), clean.iloc[[10]].copy()  # one day exported as a 30 % / 70 % split
    first[additive] *= 0.3
    second[additive] *= 0.7
    second["avg_price"] += 2.0
    std = pd.concat([clean.drop(index=clean.index[10]), first, second]).reset_index(drop=True)
    key = (first[F.GEO].iloc[0], first[F.TIME].iloc[0])
    price = lambda cfg: resolve_duplicates(std, cfg, CleaningLog()).set_index([F.GEO, F.TIME]).loc[key, "avg_price"]  # noqa: E731
    base = float(clean.iloc[10]["avg_price"])
    assert price(demo_cfg) == pytest.approx(base + 1.0)  # default rule: mean
    assert price(_with(demo_cfg, duplicates={"non_additive_rules": {"avg_price": "max"}})) == pytest.approx(base + 2)
