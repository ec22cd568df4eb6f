"""Tests of the simulator's optional Meridian vocabulary: reach and frequency, organic media, a non-media treatment,
a conversions KPI and lift tests. Each truth is checked against the data by simulating the response again with the
cause switched off, or by an independent recomputation."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.simulate import (
    DEFAULT_CHANNELS,
    ExperimentSpec,
    OrganicTruth,
    RfChannelTruth,
    SimulatedDataset,
    SimulationSpec,
    TreatmentTruth,
    data_config,
    example_spec,
    experiment_window,
    simulate,
    write_dataset,
)
from mmm_meridian.simulate.spec import VOCABULARY_DEFAULTS
from mmm_meridian.simulate.vocabulary import rf_causes, rf_roi_at_frequency

N_WEEKS = 60
RF = RfChannelTruth("youtube_rf", roi=1.6)
ORGANIC = OrganicTruth("newsletter")
PROMO = TreatmentTruth("promotion")
SEARCH_TEST = ExperimentSpec("google_search", *experiment_window("2022-01-03", 15, 4))
RF_TEST = ExperimentSpec("youtube_rf", *experiment_window("2022-01-03", 25, 4), geo="GB", roi_se=0.2)
REVENUE_SPEC = SimulationSpec(n_weeks=N_WEEKS, seed=7, rf_channels=(RF,), organic=(ORGANIC,), treatments=(PROMO,),
                              experiments=(SEARCH_TEST, RF_TEST))
CONVERSIONS_SPEC = dataclasses.replace(REVENUE_SPEC, kpi_type="conversions")
DEFAULT_CHANNELS_NAMES = [c.name for c in DEFAULT_CHANNELS]


@pytest.fixture(scope="module")
def plain():
    return simulate(SimulationSpec(n_weeks=N_WEEKS, seed=7))


@pytest.fixture(scope="module", params=["revenue", "conversions"])
def ds(request):
    return simulate(REVENUE_SPEC if request.param == "revenue" else CONVERSIONS_SPEC)


def _independent_adstock(x: np.ndarray, decay: float, max_lag: int) -> np.ndarray:
    weights = decay ** np.arange(max_lag + 1)
    return np.convolve(x, weights / weights.sum())[: len(x)]


def test_off_by_default_and_the_default_data_do_not_move(plain):
    spec = SimulationSpec(n_weeks=N_WEEKS, seed=7)
    assert not spec.uses_vocabulary
    assert not set(VOCABULARY_DEFAULTS) & set(spec.to_dict())
    assert set(plain.truth) == {"spec", "channels", "series", "totals", "weekly_contributions", "weekly_baseline"}
    assert plain.rf_weekly is None
    # Asking for the vocabulary draws from streams of its own: the paid media are the same to the bit.
    with_all = simulate(REVENUE_SPEC)
    media = [c for c in plain.daily.columns if c.endswith(("_spend", "_impressions", "_clicks"))]
    pd.testing.assert_frame_equal(with_all.daily[media], plain.daily[media], check_exact=True)
    for name in ("promo_flag", "avg_price"):
        assert (with_all.daily[name] == plain.daily[name]).all()
    assert list(with_all.daily.columns) == list(plain.daily.columns) + ["newsletter_volume", "promotion"]


def test_spec_round_trips_through_its_dict():
    for spec in (REVENUE_SPEC, CONVERSIONS_SPEC, SimulationSpec()):
        assert SimulationSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_revenue_is_baseline_plus_every_contribution(ds):
    contrib = ds.weekly_contributions.groupby(["series", "week_start"])["contribution"].sum()
    base = ds.weekly_baseline.set_index(["series", "week_start"])["baseline"]
    revenue = ds.weekly.set_index(["mmm_timeseries_id", "week_start"])["all_purchases_original_price"]
    np.testing.assert_allclose((base + contrib).loc[revenue.index].to_numpy(), revenue.to_numpy(), rtol=1e-12,
                               atol=1e-6)
    assert set(ds.weekly_contributions["channel"]) == {*DEFAULT_CHANNELS_NAMES, "youtube_rf", "newsletter",
                                                       "promotion"}
    # Every cause's weekly contribution is its response simulated again from the data, in money.
    by_cause = ds.weekly_contributions.set_index(["channel", "series", "week_start"]).sort_index()["contribution"]
    value = ds.value_per_kpi()
    for name in ("youtube_rf", "newsletter", "promotion", "tiktok"):
        stated = np.stack([by_cause.loc[(name, sid)].to_numpy() for sid in ds.truth["series"]])
        np.testing.assert_allclose(ds.cause_contributions(name) * value, stated, rtol=1e-9, atol=1e-9)


def test_rf_spend_is_cost_times_reach_times_frequency(ds):
    weekly = ds.weekly
    reach, frequency, spend = (weekly[f"youtube_rf_{s}"] for s in ("reach", "frequency", "spend"))
    np.testing.assert_allclose(spend, RF.cost_per_exposure * reach * frequency, rtol=0, atol=0.005 + 1e-9)
    dark = reach == 0
    assert 0.05 < dark.mean() < 0.3  # flighting 0.15
    assert (frequency[dark] == 0).all() and (spend[dark] == 0).all()
    assert (frequency[~dark] >= 1).all() and abs(frequency[~dark].mean() - RF.mean_frequency) < 0.3
    assert (reach == reach.round()).all()


def test_rf_response_is_meridians_hill_on_frequency_times_reach_then_adstock(ds):
    value = ds.value_per_kpi()
    reach, frequency = ds.weekly_values("youtube_rf_reach"), ds.weekly_values("youtube_rf_frequency")
    total_money, total_spend = 0.0, 0.0
    for i, (sid, series) in enumerate(ds.truth["series"].items()):
        params = series["rf_channels"]["youtube_rf"]
        saturated = frequency[i] ** RF.slope / (frequency[i] ** RF.slope + RF.ec**RF.slope)
        effect = params["beta"] * _independent_adstock(reach[i] * saturated, RF.decay, RF.max_lag)
        np.testing.assert_allclose(effect, ds.cause_contributions("youtube_rf")[i], rtol=1e-10)
        money = float((effect * value[i]).sum())
        spend = float(ds.weekly.loc[ds.weekly["mmm_timeseries_id"] == sid, "youtube_rf_spend"].sum())
        assert money / spend == pytest.approx(RF.roi, rel=1e-9)
        assert params["roi"] == pytest.approx(RF.roi, rel=1e-9) and params["total_spend"] == pytest.approx(spend)
        total_money, total_spend = total_money + money, total_spend + spend
    assert ds.truth["totals"]["youtube_rf"]["roi"] == pytest.approx(RF.roi, rel=1e-9)
    assert ds.truth["rf_channels"]["youtube_rf"]["roi"] == RF.roi
    assert ds.truth["rf_channels"]["youtube_rf"]["spend"] == pytest.approx(total_spend, rel=1e-12)
    assert ds.incremental_revenue("youtube_rf") == pytest.approx(total_money, rel=1e-9)


def test_optimal_frequency_maximises_roi_at_fixed_spend(ds):
    truth = ds.truth["rf_channels"]["youtube_rf"]
    assert truth["optimal_frequency"] == pytest.approx(RF.ec * (RF.slope - 1) ** (1 / RF.slope)) == RF.optimal_frequency
    (cause,) = rf_causes(ds.spec, ds.value_per_kpi())
    grid = np.arange(1.0, 6.0, 0.01)
    rois = np.array([rf_roi_at_frequency(cause, RF, ds.value_per_kpi(), f) for f in grid])
    assert grid[rois.argmax()] == pytest.approx(truth["optimal_frequency"], abs=0.011)
    assert truth["roi_at_optimal_frequency"] == pytest.approx(rois.max(), rel=1e-6)
    assert truth["roi_at_optimal_frequency"] > RF.roi  # the observed frequencies (mean 3) are not the best
    # A concave Hill (slope <= 1) has no interior optimum: ROI falls with frequency, so None.
    assert dataclasses.replace(RF, slope=1.0).optimal_frequency is None
    flat = simulate(dataclasses.replace(REVENUE_SPEC, rf_channels=(dataclasses.replace(RF, slope=0.8),)))
    assert flat.truth["rf_channels"]["youtube_rf"]["optimal_frequency"] is None
    assert flat.truth["rf_channels"]["youtube_rf"]["roi_at_optimal_frequency"] is None


def test_zeroing_the_organic_medium_reproduces_its_incremental_revenue(ds):
    stated = ds.truth["organic"]["newsletter"]["incremental_revenue"]
    scales = np.array(ds.spec.series_scale)
    assert stated == pytest.approx(ORGANIC.mean_weekly_revenue * scales.sum() * N_WEEKS, rel=1e-9)
    assert ds.incremental_revenue("newsletter") == pytest.approx(stated, rel=1e-9)
    for series in ds.truth["series"].values():
        own = series["organic"]["newsletter"]["incremental_revenue"]
        assert own == pytest.approx(ORGANIC.mean_weekly_revenue * series["scale"] * N_WEEKS, rel=1e-9)
    volume = ds.daily.groupby("mmm_timeseries_id")["newsletter_volume"].sum()
    assert (volume > 0).all() and (ds.weekly["newsletter_volume"] >= 0).all()


def test_treatment_effect_is_linear_relative_to_its_minimum(ds):
    truth = ds.truth["treatments"]["promotion"]
    intensity = ds.weekly_values("promotion")
    assert truth["baseline_value"] == intensity.min() == 0.0  # Meridian's default baseline: the minimum
    assert set(np.unique(intensity)) <= {0.0} | set(np.round(np.arange(0.2, 1.001, 0.01), 2))
    assert 0.15 < (intensity > 0).mean() < 0.35
    # Within a week the daily rows all hold the week's intensity.
    assert (ds.daily.groupby(["mmm_timeseries_id", ds.daily["date_day"].dt.to_period("W-SUN")])["promotion"]
            .nunique() == 1).all()
    scales = np.array(ds.spec.series_scale)[:, None]
    assert truth["incremental_revenue"] == pytest.approx(float((PROMO.uplift * scales * intensity).sum()), rel=1e-9)
    assert ds.incremental_revenue("promotion") == pytest.approx(truth["incremental_revenue"], rel=1e-9)
    gammas = np.array([s["treatments"]["promotion"]["gamma"] for s in ds.truth["series"].values()])
    np.testing.assert_allclose(ds.cause_contributions("promotion"), gammas[:, None] * intensity, rtol=1e-12)


def test_conversions_kpi_states_truths_in_money():
    ds = simulate(CONVERSIONS_SPEC)
    assert ds.kpi_type == "conversions" and ds.truth["kpi_type"] == "conversions"
    daily = ds.daily
    cents = np.round(daily["all_purchases_original_price"] * 100).astype(np.int64)
    assert (cents == daily["conversions"] * np.round(daily["revenue_per_conversion"] * 100).astype(np.int64)).all()
    assert (daily["conversions"] == daily["all_purchases"]).all()
    weekly = ds.weekly
    np.testing.assert_allclose(weekly["all_purchases_original_price"],
                               weekly["conversions"] * weekly["revenue_per_conversion"], rtol=1e-12)
    rpc = weekly["revenue_per_conversion"]
    assert ((rpc - weekly["avg_price"] * ds.spec.basket_size).abs() <= 0.005 + 1e-9).all()
    # A paid channel's ROI is money over money: its KPI contribution times each week's value of a conversion.
    value = ds.value_per_kpi()
    for name in ("google_search", "youtube_rf"):
        money = float((ds.cause_contributions(name) * value).sum())
        spend = float(weekly[f"{name}_spend"].sum())
        assert money / spend == pytest.approx(ds.truth["totals"][name]["roi"], rel=1e-9)
        assert ds.truth["totals"][name]["incremental_revenue"] == pytest.approx(money, rel=1e-9)
    assert ds.truth["totals"]["google_search"]["roi"] == pytest.approx(3.0, rel=1e-9)
    # The KPI itself is in conversions: not the revenue's scale.
    assert weekly["conversions"].sum() < weekly["all_purchases_original_price"].sum() / 20


def test_experiment_truth_is_the_roi_of_the_window_spend_carryover_included(ds):
    (search, rf) = ds.truth["experiments"]
    for test in (search, rf):
        spend = ds.spend_in(test["channel"], test["start"], test["end"], test["geo"])
        assert test["spend"] == pytest.approx(spend, rel=1e-12) and spend > 0
        lost = ds.incremental_revenue(test["channel"], test["start"], test["end"], test["geo"])
        assert test["true_incremental_revenue"] == pytest.approx(lost, rel=1e-9)
        assert test["true_roi"] == pytest.approx(lost / spend, rel=1e-9)
        assert test["weeks"] == 4
    assert rf["geo"] == "GB" and search["geo"] is None
    # Independent recomputation for the media channel: zero its impressions in the window, everywhere.
    window = ds.window(search["start"], search["end"])
    value, channel = ds.value_per_kpi(), DEFAULT_CHANNELS[0]
    impressions = ds.weekly_values("google_search_impressions")
    lost, inside = 0.0, 0.0
    for i, series in enumerate(ds.truth["series"].values()):
        params = series["channels"]["google_search"]

        def effect(x, params=params):
            adstocked = _independent_adstock(x, channel.decay, channel.max_lag)
            return params["beta"] * adstocked / (adstocked + params["ec_abs"])

        diff = (effect(impressions[i]) - effect(np.where(window[i], 0.0, impressions[i]))) * value[i]
        lost, inside = lost + diff.sum(), inside + diff[window[i]].sum()
    assert search["true_incremental_revenue"] == pytest.approx(lost, rel=1e-9)
    assert lost > inside * 1.05  # the carryover after the window counts
    # A window is not the whole period: saturation makes the window's ROI differ from the channel's.
    assert search["true_roi"] != pytest.approx(channel.roi, rel=1e-3)


def test_experiment_measurements_are_noisy_with_the_stated_error(ds):
    for test, spec in zip(ds.truth["experiments"], (SEARCH_TEST, RF_TEST), strict=True):
        assert test["measure"] == "roi" and test["roi_se"] == spec.roi_se
        assert abs(test["roi"] - test["true_roi"]) < 4 * spec.roi_se
        assert test["roi"] != test["true_roi"]
        assert test["incremental_revenue"] is None and test["incremental_revenue_se"] is None
    many = [ExperimentSpec("tiktok", *experiment_window("2022-01-03", 2 * k, 2), roi_se=0.5) for k in range(25)]
    measured = simulate(dataclasses.replace(REVENUE_SPEC, experiments=tuple(many))).truth["experiments"]
    z = np.array([(t["roi"] - t["true_roi"]) / 0.5 for t in measured])
    assert abs(z.mean()) < 0.6 and 0.6 < z.std() < 1.5


def test_experiments_csv_has_the_documented_columns(ds, tmp_path):
    frame = ds.experiments_frame()
    assert list(frame.columns) == ["channel", "start", "end", "geo", "roi", "roi_se"]
    files = write_dataset(tmp_path, ds, name="x")
    parsed = pd.read_csv(files.experiments, keep_default_na=False, dtype={"geo": str})
    assert list(parsed.columns) == ["channel", "start", "end", "geo", "roi", "roi_se"]
    assert list(parsed["geo"]) == ["", "GB"]  # empty for a national test
    assert list(parsed["start"]) == [SEARCH_TEST.start, RF_TEST.start]
    assert all(pd.Timestamp(s).dayofweek == 0 and pd.Timestamp(e).dayofweek == 6
               for s, e in zip(parsed["start"], parsed["end"], strict=True))
    assert list(parsed["roi"]) == [t["roi"] for t in ds.truth["experiments"]]
    # Incremental revenue measured instead: the other pair of columns; its error is roi_se x the window's spend.
    tests = tuple(dataclasses.replace(t, measure="incremental_revenue", geo=None) for t in (SEARCH_TEST, RF_TEST))
    other = simulate(dataclasses.replace(REVENUE_SPEC, experiments=tests))
    frame = pd.read_csv(io.StringIO(other.experiments_frame().to_csv(index=False)))
    assert list(frame.columns) == ["channel", "start", "end", "incremental_revenue", "incremental_revenue_se"]
    for row, test, asked in zip(frame.itertuples(), other.truth["experiments"], tests, strict=True):
        assert row.incremental_revenue_se == pytest.approx(test["spend"] * asked.roi_se, abs=0.01)
        assert abs(row.incremental_revenue - test["true_incremental_revenue"]) < 4 * row.incremental_revenue_se
        assert test["roi"] is None


@pytest.mark.parametrize("test, match", [
    (ExperimentSpec("google_search", "2022-01-04", "2022-01-30"), "Monday"),
    (ExperimentSpec("google_search", "2022-01-03", "2022-01-29"), "Sunday"),
    (ExperimentSpec("google_search", "2023-02-20", "2023-03-05"), "outside the simulated period"),
    (ExperimentSpec("radio", "2022-01-03", "2022-01-30"), "not a paid channel"),
    (ExperimentSpec("newsletter", "2022-01-03", "2022-01-30"), "not a paid channel"),
    (ExperimentSpec("google_search", "2022-01-03", "2022-01-30", geo="ZZ"), "not a territory"),
    (ExperimentSpec("google_search", "2022-01-03", "2022-01-30", roi_se=0.0), "roi_se"),
    (ExperimentSpec("google_search", "2022-01-03", "2022-01-30", measure="lift"), "measure"),
])
def test_invalid_experiments_raise(test, match):
    with pytest.raises(ConfigError, match=match):
        simulate(dataclasses.replace(REVENUE_SPEC, experiments=(test,)))


def test_overlapping_mixed_or_spendless_experiments_raise():
    overlap = (SEARCH_TEST, dataclasses.replace(SEARCH_TEST, geo="GB"))
    with pytest.raises(ConfigError, match="overlaps"):
        simulate(dataclasses.replace(REVENUE_SPEC, experiments=overlap))
    # Same weeks in two different geos, or two channels in the same weeks, do not overlap.
    simulate(dataclasses.replace(REVENUE_SPEC, n_weeks=20, experiments=(
        dataclasses.replace(RF_TEST, start="2022-01-10", end="2022-01-23"),
        dataclasses.replace(RF_TEST, start="2022-01-10", end="2022-01-23", geo="US"))))
    mixed = (SEARCH_TEST, dataclasses.replace(RF_TEST, measure="incremental_revenue"))
    with pytest.raises(ConfigError, match="mix measures"):
        simulate(dataclasses.replace(REVENUE_SPEC, experiments=mixed))
    always_dark = dataclasses.replace(RF, flighting=0.999999)
    with pytest.raises(ConfigError, match="without spend"):
        simulate(dataclasses.replace(REVENUE_SPEC, rf_channels=(always_dark,), experiments=(RF_TEST,)))


def test_invalid_vocabulary_raises():
    cases = [
        ({"rf_channels": (dataclasses.replace(RF, mean_frequency=1.0),)}, "mean_frequency"),
        ({"rf_channels": (dataclasses.replace(RF, name="tiktok"),)}, "not unique"),
        ({"organic": (dataclasses.replace(ORGANIC, decay=1.0),)}, "decay"),
        ({"treatments": (dataclasses.replace(PROMO, name="avg_price"),)}, "clash"),
        ({"treatments": (dataclasses.replace(PROMO, name="tiktok_spend"),)}, "clash"),
        ({"treatments": (dataclasses.replace(PROMO, probability=1.0),)}, "probability"),
        ({"kpi_type": "units"}, "kpi_type"),
    ]
    for change, match in cases:
        with pytest.raises(ConfigError, match=match):
            simulate(dataclasses.replace(REVENUE_SPEC, experiments=(), **change))
    with pytest.raises(DataError, match="unknown cause"):
        simulate(REVENUE_SPEC).incremental_revenue("radio")


def test_save_and_load_keep_the_weekly_reach_and_frequency(tmp_path):
    ds = simulate(REVENUE_SPEC)
    ds.save(tmp_path)
    back = SimulatedDataset.load(tmp_path)
    pd.testing.assert_frame_equal(back.weekly, ds.weekly, check_exact=True)
    assert back.spec == REVENUE_SPEC
    assert back.incremental_revenue("youtube_rf") == pytest.approx(ds.incremental_revenue("youtube_rf"), rel=1e-12)


@pytest.mark.parametrize("kind, n_series", [("national", 1), ("geo", 4)])
def test_write_dataset_writes_a_complete_example(tmp_path, kind, n_series):
    spec = example_spec(kind, seed=3, n_weeks=52)
    files = write_dataset(tmp_path / "a", spec, name=kind)
    again = write_dataset(tmp_path / "b", spec, name=kind)
    for first, second in ((files.data, again.data), (files.truth, again.truth),
                          (files.experiments, again.experiments)):
        assert first.read_bytes() == second.read_bytes()
    table = pd.read_csv(files.data, parse_dates=["week_start"])
    truth = json.loads(files.truth.read_text(encoding="utf-8"))
    assert len(table) == n_series * 52 and table["territory_name"].nunique() == n_series
    config = data_config(simulate(spec))
    mapped = [config["date_col"], config["revenue_col"], config["revenue_per_kpi_col"], *config["controls"],
              config["promo_col"], *config["non_media_treatments"], *config["keys"]]
    for mapping in ("channel_map", "impressions_map", "clicks_map", "reach_map", "frequency_map", "organic_map"):
        mapped += list(config[mapping].values())
    assert not set(mapped) - set(table.columns)
    assert config["geo_col"] == ("territory_name" if kind == "geo" else None)
    assert set(truth) >= {"rf_channels", "organic", "treatments", "experiments", "kpi_type", "totals"}
    experiments = pd.read_csv(files.experiments, keep_default_na=False, dtype=str)
    assert list(experiments["channel"]) == ["google_search", "youtube_rf"]
    if kind == "geo":
        assert list(experiments["geo"]) == ["", "GB"]
    else:
        assert "geo" not in experiments.columns
    # The contract's DataConfig accepts the mapping.
    from mmm_meridian.config.data import DataConfig
    DataConfig(**config)


def test_write_dataset_refuses_daily_reach_and_frequency(tmp_path):
    with pytest.raises(ConfigError, match="weekly"):
        write_dataset(tmp_path, example_spec("national", n_weeks=20), grain="daily")
    with pytest.raises(ConfigError, match="unknown example kind"):
        example_spec("regional")
    plain = write_dataset(tmp_path, SimulationSpec(n_weeks=10), name="plain", grain="daily")
    assert plain.experiments is None and "date_day" in pd.read_csv(plain.data, nrows=1).columns
