"""Tests of the seeded simulator: reproducibility, exact aggregation, exact truth, and the demo files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.simulate import (
    DEFAULT_CHANNELS,
    SimulationSpec,
    demo_spec,
    load_demo,
    simulate,
    write_demo_files,
)

CHANNELS = [c.name for c in DEFAULT_CHANNELS]
SPEC = SimulationSpec(n_weeks=60, seed=7)


@pytest.fixture(scope="module")
def ds():
    return simulate(SPEC)


def _cents(values: pd.Series | pd.DataFrame) -> np.ndarray:
    return np.round(np.asarray(values, dtype=float) * 100).astype(np.int64)


def test_same_seed_gives_identical_data_and_other_seed_differs(ds):
    again = simulate(SPEC)
    pd.testing.assert_frame_equal(again.daily, ds.daily, check_exact=True)
    assert again.truth == ds.truth
    other = simulate(dataclasses.replace(SPEC, seed=8))
    assert not np.allclose(other.daily["google_search_spend"], ds.daily["google_search_spend"])
    assert other.truth["series"]["brand_a_GB"]["channels"]["tiktok"]["beta"] != \
        ds.truth["series"]["brand_a_GB"]["channels"]["tiktok"]["beta"]


def test_daily_schema(ds):
    daily = ds.daily
    media = [f"{c}_{s}" for c in CHANNELS for s in ("spend", "impressions", "clicks", "platform_revenue")]
    assert list(daily.columns) == [
        "mmm_timeseries_id", "organisation_id", "territory_name", "currency_code", "date_day", "all_purchases",
        "all_purchases_original_price", "first_purchases", "first_purchases_original_price", *media,
        "promo_flag", "avg_price"]
    assert len(daily) == 4 * 60 * 7
    assert daily["date_day"].min() == pd.Timestamp("2022-01-03")
    assert daily.groupby("mmm_timeseries_id")["date_day"].apply(lambda d: d.diff().dropna().eq("1D").all()).all()
    assert dict(daily.groupby("mmm_timeseries_id")["currency_code"].first()) == {
        "brand_a_GB": "GBP", "brand_a_US": "USD", "brand_b_GB": "GBP", "brand_b_DE": "EUR"}
    assert not daily.isna().any().any()
    assert (daily["first_purchases"] <= daily["all_purchases"]).all()
    assert (daily["first_purchases_original_price"] <= daily["all_purchases_original_price"]).all()
    assert set(daily["promo_flag"]) == {0, 1}
    week = daily["date_day"].dt.to_period("W-SUN")
    assert (daily.groupby(["mmm_timeseries_id", week])["promo_flag"].nunique() == 1).all()
    assert 0.0 < daily["avg_price"].pct_change().abs().max() < 0.5
    # Orders follow revenue through the average order value.
    aov = daily["all_purchases_original_price"].sum() / daily["all_purchases"].sum()
    assert 50 < aov < 110


def test_daily_rows_sum_exactly_to_weekly_totals(ds):
    daily, weekly = ds.daily, ds.weekly
    assert list(weekly.columns) == list(daily.columns[:4]) + ["week_start"] + list(daily.columns[5:])
    assert (weekly["week_start"].dt.dayofweek == 0).all()
    assert len(weekly) == 4 * 60
    week = daily["date_day"] - pd.to_timedelta(daily["date_day"].dt.dayofweek, unit="D")
    money = [c for c in daily.columns if c.endswith(("_original_price", "_spend", "_platform_revenue"))]
    counts = [c for c in daily.columns if c.endswith(("_purchases", "_impressions", "_clicks"))]
    summed_cents = pd.DataFrame(_cents(daily[money]), columns=money).groupby(
        [daily["mmm_timeseries_id"], week]).sum()
    weekly_idx = weekly.set_index(["mmm_timeseries_id", "week_start"])
    assert (summed_cents.loc[weekly_idx.index].to_numpy() == _cents(weekly_idx[money])).all()
    summed_counts = daily.groupby(["mmm_timeseries_id", week])[counts].sum().loc[weekly_idx.index]
    assert (summed_counts.to_numpy() == weekly_idx[counts].to_numpy()).all()


def test_revenue_is_baseline_plus_contributions(ds):
    contrib = ds.weekly_contributions.groupby(["series", "week_start"])["contribution"].sum()
    base = ds.weekly_baseline.set_index(["series", "week_start"])["baseline"]
    revenue = ds.weekly.set_index(["mmm_timeseries_id", "week_start"])["all_purchases_original_price"]
    np.testing.assert_allclose((base + contrib).loc[revenue.index].to_numpy(), revenue.to_numpy(), atol=1e-6)
    share = contrib.sum() / revenue.sum()
    assert 0.15 < share < 0.45  # media matter, but the baseline dominates


def _independent_effect(impressions: np.ndarray, decay: float, max_lag: int, ec: float, slope: float, beta: float):
    weights = decay ** np.arange(max_lag + 1)
    adstocked = np.convolve(impressions, weights / weights.sum())[: len(impressions)]
    return beta * adstocked**slope / (adstocked**slope + ec**slope)


def test_true_roi_is_exact_and_matches_independent_recomputation(ds):
    weekly = ds.weekly.set_index(["mmm_timeseries_id", "week_start"]).sort_index()
    contrib = ds.weekly_contributions.set_index(["series", "channel", "week_start"]).sort_index()["contribution"]
    for sid, series_truth in ds.truth["series"].items():
        for channel in DEFAULT_CHANNELS:
            t = series_truth["channels"][channel.name]
            effect = _independent_effect(weekly.loc[sid, f"{channel.name}_impressions"].to_numpy(float),
                                         channel.decay, channel.max_lag, t["ec_abs"], channel.slope, t["beta"])
            np.testing.assert_allclose(effect, contrib.loc[(sid, channel.name)].to_numpy(), rtol=1e-10)
            spend = weekly.loc[sid, f"{channel.name}_spend"].sum()
            assert effect.sum() / spend == pytest.approx(channel.roi, rel=1e-12)
            assert t["roi"] == pytest.approx(channel.roi, rel=1e-12)
    for channel in DEFAULT_CHANNELS:
        assert ds.truth["totals"][channel.name]["roi"] == pytest.approx(channel.roi, rel=1e-12)
        assert ds.truth["channels"][channel.name]["decay"] == channel.decay


def test_roi_by_zeroing_a_channel(ds):
    current = ds.current_spend()
    full = ds.expected_revenue(current)
    for channel in DEFAULT_CHANNELS:
        without = ds.expected_revenue({**current, channel.name: 0.0})
        assert (full - without) / current[channel.name] == pytest.approx(channel.roi, rel=1e-9)


def test_expected_revenue_at_current_plan_equals_contributions(ds):
    total = ds.weekly_contributions["contribution"].sum()
    assert ds.expected_revenue(ds.current_spend()) == pytest.approx(total, rel=1e-12)
    assert ds.expected_revenue({}) == pytest.approx(total, rel=1e-12)
    for sid in ds.truth["series"]:
        per = ds.weekly_contributions.query("series == @sid")["contribution"].sum()
        assert ds.expected_revenue(ds.current_spend(sid), series=sid) == pytest.approx(per, rel=1e-12)
    by_channel = ds.expected_contributions(ds.current_spend())
    assert by_channel["tiktok"] == pytest.approx(ds.truth["totals"]["tiktok"]["incremental_revenue"], rel=1e-12)


def test_expected_revenue_is_increasing_and_concave_in_budget(ds):
    current = ds.current_spend()
    for name in ("google_search", "google_display"):
        budgets = current[name] * np.linspace(0, 4, 17)
        values = np.array([ds.expected_revenue({**current, name: b}) for b in budgets])
        assert (np.diff(values) > 0).all()
        assert (np.diff(values, 2) < 0).all()
        marginal_now = (values[5] - values[3]) / (budgets[5] - budgets[3])
        assert marginal_now < next(c.roi for c in DEFAULT_CHANNELS if c.name == name)  # saturating


def test_channels_are_not_highly_correlated_and_have_dark_weeks(ds):
    spend_cols = [f"{c}_spend" for c in CHANNELS]
    for _, group in ds.weekly.groupby("mmm_timeseries_id"):
        corr = group[spend_cols].corr().to_numpy()
        assert np.abs(corr[np.triu_indices(len(CHANNELS), 1)]).max() < 0.6
        zero_weeks = (group[spend_cols] == 0).sum()
        assert (zero_weeks >= 1).all(), zero_weeks
    pooled = ds.daily[spend_cols].corr().to_numpy()
    assert np.abs(pooled[np.triu_indices(len(CHANNELS), 1)]).max() < 0.6
    dark = (ds.weekly[spend_cols] == 0).mean()
    flighting = pd.Series({f"{c.name}_spend": c.flighting for c in DEFAULT_CHANNELS})
    assert (abs(dark - flighting) < 0.1).all()
    # Dark weeks are dark in impressions and clicks too.
    for c in CHANNELS:
        off = ds.daily[f"{c}_spend"] == 0
        assert (ds.daily.loc[off, [f"{c}_impressions", f"{c}_clicks", f"{c}_platform_revenue"]] == 0).all().all()


def test_platform_revenue_over_attributes_by_the_bias(ds):
    for channel in DEFAULT_CHANNELS:
        platform = ds.weekly[f"{channel.name}_platform_revenue"].sum()
        true = ds.truth["totals"][channel.name]["incremental_revenue"]
        assert platform / true == pytest.approx(channel.platform_roas_bias, rel=1e-6)
        impressions = ds.weekly[f"{channel.name}_impressions"].sum()
        assert ds.weekly[f"{channel.name}_spend"].sum() / impressions * 1000 == pytest.approx(channel.cpm, rel=0.02)


def test_series_differ_in_scale(ds):
    revenue = ds.weekly.groupby("mmm_timeseries_id")["all_purchases_original_price"].sum()
    assert revenue["brand_a_US"] > 1.5 * revenue["brand_b_DE"]


def test_invalid_arguments_raise(ds):
    with pytest.raises(ConfigError, match="Tuesday"):
        simulate(dataclasses.replace(SPEC, start="2022-01-04"))
    bad_channel = dataclasses.replace(DEFAULT_CHANNELS[0], decay=1.0)
    with pytest.raises(ConfigError, match="decay"):
        simulate(dataclasses.replace(SPEC, channels=(bad_channel,)))
    with pytest.raises(ConfigError, match="currency"):
        simulate(dataclasses.replace(SPEC, series=(("x", "ZZ"),), series_scale=(1.0,)))
    with pytest.raises(DataError, match="unknown channels"):
        ds.expected_revenue({"radio": 1.0})
    with pytest.raises(DataError, match="finite spend"):
        ds.expected_revenue({"tiktok": -1.0})
    with pytest.raises(DataError, match="unknown series"):
        ds.expected_revenue({}, series="brand_z_GB")


def test_demo_files_are_reproducible_and_embedded(tmp_path):
    daily_path, truth_path = write_demo_files(tmp_path / "a")
    again = write_demo_files(tmp_path / "b")
    assert daily_path.read_bytes() == again[0].read_bytes()
    assert truth_path.read_bytes() == again[1].read_bytes()
    assert daily_path.stat().st_size < 3_000_000
    demo = load_demo()
    fresh = simulate(demo_spec())
    pd.testing.assert_frame_equal(demo.daily, fresh.daily, check_exact=True)
    # The truth holds unrounded sums: the last bits depend on the numpy build that computed them.
    _assert_nested_close(demo.truth, fresh.truth)
    assert demo.spec == demo_spec()
    assert demo_spec().seed == 20240501 and demo_spec().n_weeks == 156
    assert demo.daily["mmm_timeseries_id"].nunique() == 4 and len(demo.daily) == 4 * 156 * 7
    # The embedded files are the ones write_demo_files produces, byte for byte.
    from importlib import resources
    assert resources.files("mmm_meridian.data").joinpath("demo_daily.csv.gz").read_bytes() == \
        daily_path.read_bytes()
    assert demo.expected_revenue(demo.current_spend()) == pytest.approx(
        demo.weekly_contributions["contribution"].sum(), rel=1e-12)


def _assert_nested_close(expected: object, actual: object, path: str = "truth") -> None:
    """Equal structure, keys and non-float values; floats equal to 1e-9 relative."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), path
        for key in expected:
            _assert_nested_close(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(expected) == len(actual), path
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _assert_nested_close(e, a, f"{path}[{i}]")
    elif isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), path
    else:
        assert actual == expected, path


def test_confounding_scenarios_make_spend_follow_the_season_and_flight_channels_together(ds):
    """spend_seasonality and flighting_groups: what the geo-count recovery study (issue 16) confounds the model
    with. Off (the default) the data are exactly as before; on, spend peaks with the season and grouped channels
    share their dark weeks, while the truth stays exact."""
    spend_cols = [f"{c}_spend" for c in CHANNELS]
    confounded = simulate(dataclasses.replace(SPEC, spend_seasonality=0.8,
                                              flighting_groups=(("google_display", "google_video", "tiktok"),)))
    season = confounded.weekly.groupby("week_start")["all_purchases_original_price"].sum()
    spend = confounded.weekly.groupby("week_start")[spend_cols].sum().sum(axis=1)
    independent = ds.weekly.groupby("week_start")[spend_cols].sum().sum(axis=1)
    assert np.corrcoef(season, spend)[0, 1] > 0.6 > np.corrcoef(season, independent)[0, 1]
    # Same draws otherwise: the scenario rescales spend by the season, so totals stay within a few percent.
    assert spend.sum() / independent.sum() == pytest.approx(1.0, abs=0.1)
    dark = confounded.weekly[spend_cols] == 0
    assert (dark["google_video_spend"] == dark["google_display_spend"]).all()
    assert (dark["tiktok_spend"] == dark["google_display_spend"]).all()
    assert not (dark["meta_facebook_spend"] == dark["google_display_spend"]).all()
    for channel in DEFAULT_CHANNELS:
        assert confounded.truth["totals"][channel.name]["roi"] == pytest.approx(channel.roi, rel=1e-6)
    assert "spend_seasonality" not in ds.truth["spec"] and confounded.truth["spec"]["spend_seasonality"] == 0.8
    again = SimulationSpec.from_dict(confounded.truth["spec"])
    assert again.flighting_groups == (("google_display", "google_video", "tiktok"),)
    with pytest.raises(ConfigError, match="flighting_groups"):
        simulate(dataclasses.replace(SPEC, flighting_groups=(("radio", "tiktok"),)))
    with pytest.raises(ConfigError, match="spend_seasonality"):
        simulate(dataclasses.replace(SPEC, spend_seasonality=1.5))


def test_geo_roi_spread_varies_roi_by_series_and_keeps_the_total_roi_exact(ds):
    varied = simulate(dataclasses.replace(SPEC, geo_roi_spread=0.4))
    for channel in DEFAULT_CHANNELS:
        per_series = [series["channels"][channel.name]["roi"] for series in varied.truth["series"].values()]
        same = [series["channels"][channel.name]["roi"] for series in ds.truth["series"].values()]
        assert varied.truth["totals"][channel.name]["roi"] == pytest.approx(channel.roi, rel=1e-6)
        assert max(per_series) / min(per_series) > 1.2
        assert same == pytest.approx([channel.roi] * len(same), rel=1e-6)
    # Only the ROIs move: spend and the baseline's draws are the same as without the spread.
    assert varied.weekly["google_search_spend"].equals(ds.weekly["google_search_spend"])
