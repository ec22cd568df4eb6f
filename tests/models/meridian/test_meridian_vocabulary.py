"""Meridian's media vocabulary through the engine: R&F channels, organic media, non-media treatments, a conversions
KPI and experiment calibration reach Meridian, and every answer covers them.

One model is shared by the file. Its PRIOR draws stand in for the posterior (copied into the posterior group, which
every answer reads): no NUTS compile, and on prior draws Meridian's ROI parameters are by construction the ROI the
answers must reproduce (``roi_m`` of a calibrated channel is the ROI of its spend in the experiment's weeks, of the
others the ROI over the whole period, in money). A real tiny NUTS fit is the one slow test at the end.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from meridian_vocab_data import (
    CONTROL,
    MEDIA,
    ORGANIC,
    PROMO,
    RF,
    experiment,
    fit_tiny,
    vocabulary_inputs,
    vocabulary_spec,
    week,
)

from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import FeatureSpec
from mmm_meridian.models.base import (
    DECOMPOSITION_COLUMNS,
    EXPERIMENT_ROI_COLUMNS,
    NON_MEDIA_TREATMENT,
    OPTIMAL_FREQUENCY_COLUMNS,
)
from mmm_meridian.models.base import (
    ORGANIC as ORGANIC_TYPE,
)
from mmm_meridian.models.meridian import ENGINE

N_PRIOR_DRAWS = 40
TEST_WEEKS = (40, 47)  # Channel0's lift test: weeks 40..47 of the model


@pytest.fixture(scope="module")
def inputs() -> pd.DataFrame:
    return vocabulary_inputs()


@pytest.fixture(scope="module")
def lift_test(inputs: pd.DataFrame) -> Any:
    return experiment(inputs, "Channel0", week(inputs, TEST_WEEKS[0]), week(inputs, TEST_WEEKS[1]), roi=1.5)


@pytest.fixture(scope="module")
def spec(inputs: pd.DataFrame, lift_test: Any) -> FeatureSpec:
    return vocabulary_spec(inputs, experiments=[lift_test])


@pytest.fixture(scope="module")
def model(inputs: pd.DataFrame, spec: FeatureSpec, jax_cache_dir: Path) -> Any:
    """The engine's model of every cause, with its prior draws as its posterior (see the module docstring)."""
    mmm = ENGINE.build(inputs, spec)
    import jax  # loaded with Meridian by build: compile into the session's cache, as the stages' fits do

    jax.config.update("jax_compilation_cache_dir", str(jax_cache_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mmm.sample_prior(N_PRIOR_DRAWS, seed=1)
    mmm.inference_data.add_groups(posterior=mmm.inference_data.prior)
    return mmm


def _draws(mmm: Any, name: str) -> np.ndarray:
    values = np.asarray(mmm.inference_data.prior[name], dtype=np.float64)
    return values.reshape(-1, values.shape[-1])


def _analyzer(mmm: Any) -> Any:
    from mmm_meridian.models.meridian import adapter

    return adapter.analyzer(mmm)


def _summary(draws: np.ndarray) -> list[float]:
    return [draws.mean(), np.median(draws), np.quantile(draws, 0.05), np.quantile(draws, 0.95)]


def test_every_cause_reaches_meridians_input_data(model: Any, inputs: pd.DataFrame) -> None:
    data = model.input_data
    assert list(data.media_channel.values) == list(MEDIA)
    assert list(data.rf_channel.values) == [RF]
    assert list(data.organic_media_channel.values) == [ORGANIC]
    assert list(data.non_media_channel.values) == [PROMO]
    assert list(data.control_variable.values) == [CONTROL]
    assert data.kpi_type == "non_revenue"
    np.testing.assert_allclose(np.asarray(data.revenue_per_kpi).ravel(), inputs["revenue_per_kpi"])
    np.testing.assert_allclose(np.asarray(data.reach).ravel(), inputs[f"{RF}__reach"])
    np.testing.assert_allclose(np.asarray(data.frequency).ravel(), inputs[f"{RF}__frequency"])
    np.testing.assert_allclose(np.asarray(data.rf_spend).ravel(), inputs[f"{RF}__spend"])
    np.testing.assert_allclose(np.asarray(data.organic_media).ravel(), inputs[f"{ORGANIC}__organic"])
    assert ENGINE.channel_names(model) == [*MEDIA, RF]  # paid channels: media, then R&F
    np.testing.assert_allclose(ENGINE.historical_spend(model),
                               [inputs[f"{c}__spend"].sum() for c in [*MEDIA, RF]])
    assert list(ENGINE.weekly_spend(model).columns) == [*MEDIA, RF]


def test_the_specs_priors_and_experiment_window_are_what_meridian_samples(model: Any, spec: FeatureSpec,
                                                                         lift_test: Any) -> None:
    prior = model.prior_broadcast
    media = [c.priors for c in spec.media_channels]
    rf = spec.rf_channels[0].priors
    np.testing.assert_allclose(np.asarray(prior.roi_m.distribution.loc), [p.roi_mu for p in media])
    np.testing.assert_allclose(np.asarray(prior.roi_m.distribution.scale), [p.roi_sigma for p in media])
    np.testing.assert_allclose(np.asarray(prior.roi_rf.distribution.loc), [rf.roi_mu])
    np.testing.assert_allclose(np.asarray(prior.roi_rf.distribution.scale), [rf.roi_sigma])
    np.testing.assert_allclose(np.asarray(prior.alpha_rf.distribution.concentration1), [rf.decay_alpha])
    np.testing.assert_allclose(np.asarray(prior.ec_rf.distribution.loc), [rf.ec_mu])
    # Channel0's ROI prior is about the lift test's weeks; Channel1's and the R&F channel's about every week.
    period = model.model_context.compiled_roi_calibration_period
    assert list(np.flatnonzero(period[:, 0])) == list(range(TEST_WEEKS[0], TEST_WEEKS[1] + 1))
    assert period[:, 1].all()
    assert model.model_spec.rf_roi_calibration is None
    # What Meridian sampled as Channel0's ROI is the model's ROI over the test (carryover included).
    table = ENGINE.experiment_roi(model, [lift_test])
    assert list(table.columns) == list(EXPERIMENT_ROI_COLUMNS)
    row = table.iloc[0]
    np.testing.assert_allclose(row[["model_roi_mean", "model_roi_median", "model_roi_lo_90", "model_roi_hi_90"]]
                               .to_numpy(np.float64), _summary(_draws(model, "roi_m")[:, 0]), rtol=1e-6)
    assert row["spend"] == pytest.approx(lift_test.spend)
    assert row["model_incremental_revenue"] == pytest.approx(row["model_roi_mean"] * lift_test.spend, rel=1e-6)


def test_roi_table_is_in_money_for_a_conversions_kpi(model: Any, inputs: pd.DataFrame) -> None:
    roi = ENGINE.roi_table(model).set_index("channel")
    assert list(roi.index) == [*MEDIA, RF]
    # Meridian's ROI parameters are revenue ROI (revenue per conversion applied): the table reproduces them.
    np.testing.assert_allclose(roi.loc["Channel1", "roi_mean"], _draws(model, "roi_m")[:, 1].mean(), rtol=1e-6)
    np.testing.assert_allclose(roi.loc[RF, "roi_mean"], _draws(model, "roi_rf")[:, 0].mean(), rtol=1e-6)
    # Incremental revenue = incremental conversions x each week's revenue per conversion.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conversions = np.asarray(_analyzer(model).incremental_outcome(
            aggregate_times=False, include_non_paid_channels=False, use_kpi=True), dtype=np.float64)
    money = np.einsum("cdtk,t->k", conversions, inputs["revenue_per_kpi"].to_numpy()) / N_PRIOR_DRAWS
    np.testing.assert_allclose(roi["incremental_revenue"], money, rtol=1e-6)
    actual = inputs["revenue"] * inputs["revenue_per_kpi"]
    np.testing.assert_allclose(ENGINE.expected_vs_actual(model)["actual"], actual)
    np.testing.assert_allclose(ENGINE.predictive_table(model, 0.9)["actual"], actual)
    summary = ENGINE.model_summary(model)
    assert summary.total_revenue == pytest.approx(actual.sum())
    assert summary.channels == [*MEDIA, RF]
    assert ENGINE.revenue_figures(model)["total_revenue"] == pytest.approx(actual.sum())


def test_a_window_covering_every_week_gives_the_roi_tables_roi(model: Any, inputs: pd.DataFrame) -> None:
    first, last = week(inputs, 0), week(inputs, -1)
    tests = [experiment(inputs, channel, first, last, row=i) for i, channel in enumerate([*MEDIA, RF], start=1)]
    national = dataclasses.replace(tests[1], row=9, geo="national")  # the data's name of a national model's geo
    table = ENGINE.experiment_roi(model, [*tests, national]).set_index("row")
    roi = ENGINE.roi_table(model).set_index("channel")
    for i, channel in enumerate([*MEDIA, RF], start=1):
        assert table.loc[i, "channel"] == channel
        np.testing.assert_allclose(table.loc[i, ["spend", "model_roi_mean", "model_roi_median", "model_roi_lo_90",
                                                 "model_roi_hi_90"]].to_numpy(np.float64),
                                   roi.loc[channel, ["spend", "roi_mean", "roi_median", "roi_lo_90", "roi_hi_90"]]
                                   .to_numpy(np.float64), rtol=1e-6)
    np.testing.assert_allclose(table.loc[9, "model_roi_mean"], table.loc[2, "model_roi_mean"])


def test_experiments_the_model_cannot_answer_say_which_row(model: Any, inputs: pd.DataFrame) -> None:
    unknown = dataclasses.replace(experiment(inputs, "Channel0", week(inputs, 1), week(inputs, 2)), row=4,
                                  channel="radio")
    with pytest.raises(DataError, match="row 4 .*radio"):
        ENGINE.experiment_roi(model, [unknown])
    outside = experiment(inputs, "Channel0", "2030-01-07", "2030-02-04", row=5)
    with pytest.raises(DataError, match="row 5"):
        ENGINE.experiment_roi(model, [outside])
    elsewhere = dataclasses.replace(experiment(inputs, "Channel0", week(inputs, 1), week(inputs, 2)), row=6,
                                    geo="GB")
    with pytest.raises(DataError, match="row 6 .*GB"):
        ENGINE.experiment_roi(model, [elsewhere])


def test_decomposition_and_optimal_frequency_cover_every_cause(model: Any, inputs: pd.DataFrame) -> None:
    outputs = ENGINE.model_outputs(model, {CONTROL: "data_control"}, with_curves=False)
    parts = outputs.decomposition
    assert list(parts.columns) == list(DECOMPOSITION_COLUMNS)
    kinds = parts.drop_duplicates("component").set_index("component")["component_type"]
    assert kinds[ORGANIC] == ORGANIC_TYPE and kinds[PROMO] == NON_MEDIA_TREATMENT
    assert all(kinds[c] == "media" for c in [*MEDIA, RF])
    weekly = parts.groupby("time")["revenue"].sum()
    np.testing.assert_allclose(weekly.to_numpy(), outputs.fit.set_index("time")["expected"].reindex(weekly.index),
                               rtol=1e-9)
    assert parts.loc[parts["component"] == ORGANIC, "revenue"].sum() > 0  # organic media only adds (Hill >= 0)
    assert list(outputs.marginal_roi["channel"]) == [*MEDIA, RF]
    frequency = outputs.optimal_frequency
    assert list(frequency.columns) == list(OPTIMAL_FREQUENCY_COLUMNS)
    assert list(frequency["channel"]) == [RF]
    row = frequency.iloc[0]
    reach, freq = inputs[f"{RF}__reach"], inputs[f"{RF}__frequency"]
    assert row["historical_frequency"] == pytest.approx((reach * freq).sum() / reach.sum())
    assert 1.0 <= row["optimal_frequency"] <= freq.max()
    assert np.isfinite(row["roi_at_optimal"])
    roi = ENGINE.roi_table(model).set_index("channel")
    assert row["roi_at_historical"] == pytest.approx(roi.loc[RF, "roi_mean"])


def test_a_plan_scales_an_rf_channels_reach_at_its_frequency(model: Any) -> None:
    evaluator = ENGINE.plan_evaluator(model, 10, True)
    historical = evaluator.historical
    roi = ENGINE.roi_table(model)
    np.testing.assert_allclose(evaluator.outcome_mean(historical), roi["incremental_revenue"], rtol=1e-6)
    doubled = evaluator.outcome_mean(historical * np.array([1.0, 1.0, 2.0]))
    # Meridian's R&F effect is linear in reach at a fixed frequency: twice the spend, twice the revenue.
    np.testing.assert_allclose(doubled, roi["incremental_revenue"] * np.array([1.0, 1.0, 2.0]), rtol=1e-6)
    assert evaluator.outcome_draws(historical).shape == (10, 3)


def test_save_load_and_serving_keep_every_cause_and_the_calibration(model: Any, tmp_path: Path) -> None:
    loaded = ENGINE.load(ENGINE.save(model, tmp_path / ENGINE.model_file))
    assert list(loaded.input_data.rf_channel.values) == [RF]
    assert list(loaded.input_data.organic_media_channel.values) == [ORGANIC]
    assert list(loaded.input_data.non_media_channel.values) == [PROMO]
    assert loaded.input_data.kpi_type == "non_revenue"
    np.testing.assert_array_equal(loaded.model_context.compiled_roi_calibration_period,
                                  model.model_context.compiled_roi_calibration_period)
    roi = ENGINE.roi_table(model)
    np.testing.assert_allclose(ENGINE.roi_table(loaded)["roi_mean"], roi["roi_mean"])
    # The MLflow spend-plan model predicts every paid channel; the historical plan gives the ROI table's revenue.
    from mmm_meridian.models.meridian.pyfunc import SpendPlanModel, historical_plan

    served = SpendPlanModel()
    served._load(tmp_path / ENGINE.model_file)
    prediction = served.predict(None, historical_plan(served)).iloc[0]
    np.testing.assert_allclose([prediction[f"{c}_contribution"] for c in [*MEDIA, RF]], roi["incremental_revenue"],
                               rtol=1e-6)


def test_a_spec_without_the_vocabulary_builds_the_plain_model() -> None:
    inputs = vocabulary_inputs(kpi="revenue")
    spec = vocabulary_spec(inputs, rf=False, organic=False, promo=False, kpi_type="revenue")
    mmm = ENGINE.build(inputs, spec)
    data = mmm.input_data
    assert data.kpi_type == "revenue"
    assert data.rf_channel is None and data.organic_media_channel is None and data.non_media_channel is None
    assert mmm.model_spec.roi_calibration is None and mmm.model_spec.rf_roi_calibration is None
    prior = mmm.prior_broadcast
    np.testing.assert_allclose(np.asarray(prior.roi_m.distribution.loc), [c.priors.roi_mu for c in spec.channels])
    assert ENGINE.channel_names(mmm) == list(MEDIA)


@pytest.mark.slow  # builds a second model with every cause (20 s)
def test_a_fit_of_fewer_weeks_keeps_the_experiment_weeks_it_has(inputs: pd.DataFrame, spec: FeatureSpec) -> None:
    """Rolling splits and windowed refits fit part of the period: the calibration follows the weeks they have."""
    times = pd.to_datetime(inputs["time"])
    channel0 = spec.channels[0].priors
    tested = dataclasses.replace(spec, channels=[
        dataclasses.replace(spec.channels[0], priors=dataclasses.replace(channel0, uncalibrated_roi=[0.1, 0.8])),
        *spec.channels[1:]])
    before = ENGINE.build(inputs[times < pd.Timestamp(week(inputs, TEST_WEEKS[0]))].reset_index(drop=True), tested)
    assert before.model_spec.roi_calibration is None  # the test's weeks are not in this fit: the prior without it
    np.testing.assert_allclose(np.asarray(before.prior_broadcast.roi_m.distribution.loc)[0], 0.1)
    np.testing.assert_allclose(np.asarray(before.prior_broadcast.roi_m.distribution.scale)[0], 0.8)
    partly = ENGINE.build(inputs[times <= pd.Timestamp(week(inputs, TEST_WEEKS[0] + 3))].reset_index(drop=True),
                          tested)
    period = partly.model_context.compiled_roi_calibration_period
    assert list(np.flatnonzero(period[:, 0])) == list(range(TEST_WEEKS[0], TEST_WEEKS[0] + 4))
    np.testing.assert_allclose(np.asarray(partly.prior_broadcast.roi_m.distribution.loc)[0], channel0.roi_mu)


def test_model_inputs_missing_a_column_the_spec_names_are_refused(inputs: pd.DataFrame, spec: FeatureSpec) -> None:
    with pytest.raises(DataError, match=f"{RF}__frequency"):
        ENGINE.build(inputs.drop(columns=[f"{RF}__frequency"]), spec)


def test_optimizer_runs_rf_channels_at_meridians_optimal_frequency(model: Any) -> None:
    historical = ENGINE.historical_spend(model)
    recommendation = ENGINE.optimize(model, pct_of_spend=historical / historical.sum(), lower=np.full(3, 0.3),
                                     upper=np.full(3, 0.3), budget=float(historical.sum()), fixed_budget=True,
                                     target_mroi=None, gtol=1e-3, interval=0.9)
    frequency = recommendation.frequency
    assert frequency is not None and frequency.shape == (1,)
    table = ENGINE.model_outputs(model, {}, with_curves=False).optimal_frequency
    np.testing.assert_allclose(table["optimal_frequency"], frequency, rtol=1e-6)
    evaluator = ENGINE.plan_evaluator(model, 10, True)
    # The evaluator at the optimal frequency reproduces what Meridian's optimiser reports for its plan.
    np.testing.assert_allclose(evaluator.outcome_mean(recommendation.spend, frequency=frequency),
                               recommendation.mean_outcome, rtol=1e-6)


@pytest.mark.slow  # a real NUTS fit of every cause: about 3 minutes on 2 cores (compilation included)
def test_a_real_fit_of_every_cause_answers(inputs: pd.DataFrame, spec: FeatureSpec, lift_test: Any) -> None:
    fitted = fit_tiny(inputs, spec)
    roi = ENGINE.roi_table(fitted)
    assert list(roi["channel"]) == [*MEDIA, RF] and np.isfinite(roi["roi_mean"]).all()
    table = ENGINE.experiment_roi(fitted, [lift_test])
    assert np.isfinite(table["model_roi_mean"]).all()
    outputs = ENGINE.model_outputs(fitted, {CONTROL: "data_control"}, with_curves=False)
    assert outputs.optimal_frequency is not None


def test_the_optimize_stage_measures_the_recommended_plan_at_the_optimizers_frequency(model: Any) -> None:
    from mmm_meridian.optimize.allocate import PlanRequest, optimise_plan
    from mmm_meridian.optimize.constraints import ShareBounds

    channels, historical = ENGINE.channel_names(model), ENGINE.historical_spend(model)
    budget = float(historical.sum())
    bounds = ShareBounds(tuple(channels), np.full(len(channels), 0.1), np.full(len(channels), 0.6))
    result = optimise_plan(ENGINE, model, ENGINE.plan_evaluator(model, 0, True), PlanRequest("test", bounds, budget),
                           gtol=1e-3, width=0.9, weekly=ENGINE.weekly_spend(model))
    # the paired evaluation of every draw reproduces Meridian's own figure for its plan, R&F channel included (at
    # the historical frequency the R&F channel's revenue would differ)
    np.testing.assert_allclose(result.allocation["expected_incremental_revenue"],
                               result.recommendation.mean_outcome, rtol=1e-4)
