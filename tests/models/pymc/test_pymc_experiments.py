"""Lift tests in the PyMC engine's graph, its ROI prior for tested channels, and its refusal of Meridian-only inputs
(model building and prior draws only, no NUTS; the fits with an experiment are in test_pymc_fit.py)."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest
from pymc_engine_data import synthetic_inputs, synthetic_spec, tv_experiment
from scipy import stats

from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.feature_spec import (
    REACH_FREQUENCY,
    ControlInput,
    ExperimentInput,
    FeatureSpec,
    OrganicInput,
)
from mmm_meridian.models.pymc import ENGINE, build, experiments, fit
from mmm_meridian.models.pymc.experiments import EXPERIMENT_DIM, MODEL_ROI, OBSERVED, base_roi_prior


@pytest.fixture(scope="module")
def inputs() -> pd.DataFrame:
    return synthetic_inputs()


def _search_test(row: int = 2, **change: object) -> ExperimentInput:
    fields = {"row": row, "channel": "search", "start": "2022-06-06", "end": "2022-07-25", "geo": None, "roi": 0.8,
              "roi_se": 0.3, "measured": "roi", "spend": 0.0, **change}
    return ExperimentInput(**fields)  # type: ignore[arg-type]


def test_each_experiment_is_a_normal_likelihood_term(inputs: pd.DataFrame) -> None:
    tests = [tv_experiment(inputs, roi_se=0.15, row=1), _search_test(row=4)]
    spec = dataclasses.replace(synthetic_spec(inputs), experiments=tests)
    model = build.build(inputs, spec).mmm.model
    term = model[OBSERVED]
    assert term in model.observed_RVs and list(model.coords[EXPERIMENT_DIM]) == [1, 4]
    observed = np.asarray(model.rvs_to_values[term].data)
    np.testing.assert_allclose(observed, [tests[0].roi, 0.8])
    # Its log-density is Normal(measured ROI | the model's ROI over the test's window, roi_se), term by term.
    point = model.initial_point()
    in_values = model.replace_rvs_by_values([model[MODEL_ROI]])[0]  # the deterministic at the point's values
    model_roi = model.compile_fn(in_values, inputs=model.value_vars, on_unused_input="ignore")(point)
    logp = model.compile_fn(model.logp(vars=[term], sum=False)[0], inputs=model.value_vars,
                            on_unused_input="ignore")(point)
    np.testing.assert_allclose(logp, stats.norm.logpdf(observed, model_roi, [0.15, 0.3]), rtol=1e-10)
    assert np.all(model_roi > 0)


def test_geo_experiments_and_bare_models(inputs: pd.DataFrame) -> None:
    geo_inputs = synthetic_inputs(("B", "A"), seed=1)
    spec = dataclasses.replace(synthetic_spec(geo_inputs), experiments=[_search_test(geo="A"), _search_test(row=3)])
    model = build.build(geo_inputs, spec).mmm.model
    assert model.named_vars_to_dims[MODEL_ROI] == (EXPERIMENT_DIM,) and OBSERVED in model.named_vars
    # default_priors is bare PyMC-Marketing (benchmarks): no business knowledge, no experiments.
    bare = build.build(inputs, dataclasses.replace(synthetic_spec(inputs), experiments=[tv_experiment(inputs)]),
                       default_priors=True).mmm.model
    assert OBSERVED not in bare.named_vars


def test_a_tested_channel_keeps_its_uncalibrated_roi_prior(inputs: pd.DataFrame) -> None:
    """The experiment is the likelihood; its matched prior (for Meridian) would count it twice."""
    spec = synthetic_spec(inputs)
    tv = spec.channels[0]
    matched = dataclasses.replace(tv.priors, roi_mu=0.7, roi_sigma=0.05, roi_source="experiment",
                                  uncalibrated_roi=[tv.priors.roi_mu, tv.priors.roi_sigma])
    spec = dataclasses.replace(spec, channels=[dataclasses.replace(tv, priors=matched), *spec.channels[1:]],
                               experiments=[tv_experiment(inputs)])
    record = build.build(inputs, spec).record
    assert record.roi_prior["mu"][0] == tv.priors.roi_mu and record.roi_prior["sigma"][0] == tv.priors.roi_sigma


def test_base_roi_prior(caplog: pytest.LogCaptureFixture) -> None:
    plain = SimpleNamespace(channel="tv", roi_source="roi_bounds", roi_mu=0.5, roi_sigma=0.4,
                            uncalibrated_roi=None)
    assert base_roi_prior(plain) == (0.5, 0.4)  # type: ignore[arg-type]
    calibrated = SimpleNamespace(channel="tv", roi_source="experiment", roi_mu=0.7, roi_sigma=0.05,
                                 uncalibrated_roi=[0.5, 0.4])
    assert base_roi_prior(calibrated) == (0.5, 0.4)  # type: ignore[arg-type]
    hand_built = SimpleNamespace(channel="tv", roi_source="experiment", roi_mu=0.7, roi_sigma=0.05,
                                 uncalibrated_roi=None)
    with caplog.at_level(logging.WARNING):
        assert base_roi_prior(hand_built) == (0.7, 0.05)  # type: ignore[arg-type]
    assert "count twice" in caplog.text


@pytest.mark.parametrize(("change", "message"), [
    ({"channel": "radio"}, r"experiment row 2 \(radio, 2022-06-06..2022-07-25\) names channel 'radio'"),
    ({"geo": "Z"}, "experiment row 2 .* is in geo 'Z'"),
])
def test_experiments_that_do_not_fit_the_data_are_refused(change: dict, message: str, inputs: pd.DataFrame) -> None:
    spec = dataclasses.replace(synthetic_spec(inputs), experiments=[_search_test(**change)])
    with pytest.raises(DataError, match=message) as error:
        build.build(inputs, spec)
    assert error.value.where == "calibration.experiments" and error.value.fix


def test_a_model_of_part_of_the_data_leaves_out_the_tests_outside_it(inputs: pd.DataFrame,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Evaluate's rolling splits model a window of the weeks: tests outside it, or cut by it, are left out."""
    window = inputs[inputs["time"].between("2022-03-07", "2022-09-26")].reset_index(drop=True)
    tests = [tv_experiment(inputs, row=1),  # 2022-03-14..2022-05-30: inside
             _search_test(row=2, start="2022-01-03", end="2022-03-28"),  # cut by the window's start
             _search_test(row=3, start="2022-10-03", end="2022-10-31")]  # after the window
    with caplog.at_level(logging.INFO):
        model = build.build(window, dataclasses.replace(synthetic_spec(window), experiments=tests)).mmm.model
    assert list(model.coords[EXPERIMENT_DIM]) == [1] and "experiment row(s) [2, 3] not (wholly)" in caplog.text
    none_inside = dataclasses.replace(synthetic_spec(window), experiments=tests[1:])
    assert OBSERVED not in build.build(window, none_inside).mmm.model.named_vars
    # The model's answer for a test outside its weeks is refused, not made up.
    with pytest.raises(DataError, match="experiment row 3 .* covers no week of the data"):
        experiments.window_cells(build.build(window, none_inside).record, tests[2])


def test_an_experiment_without_spend_is_refused(inputs: pd.DataFrame) -> None:
    quiet = inputs.copy()
    window = quiet["time"].between("2022-06-06", "2022-07-25")
    quiet.loc[window, "search__spend"] = 0.0
    spec = dataclasses.replace(synthetic_spec(quiet), experiments=[_search_test()])
    with pytest.raises(DataError, match="experiment row 2 .* no spend in the test's weeks"):
        build.build(quiet, spec)


def _with(spec: FeatureSpec, case: str) -> FeatureSpec:
    if case == "rf":
        tv = spec.channels[0]
        return dataclasses.replace(spec, channels=[dataclasses.replace(tv, media_source=REACH_FREQUENCY),
                                                   *spec.channels[1:]])
    if case == "organic":
        return dataclasses.replace(spec, organic=[OrganicInput("newsletter", "newsletter_sends")])
    if case == "treatment":
        return dataclasses.replace(spec, treatments=[ControlInput("price", "non_media_treatment")])
    return dataclasses.replace(spec, kpi_type="conversions")


@pytest.mark.parametrize(("case", "named"), [
    ("rf", "reach-and-frequency channel(s) ['tv'] (data.reach_map)"),
    ("organic", "organic media ['newsletter'] (data.organic_map)"),
    ("treatment", "non-media treatment(s) ['price'] (data.non_media_treatments)"),
    ("conversions", "a conversions KPI (data.kpi_type=conversions)"),
])
def test_meridian_only_inputs_are_refused(case: str, named: str, inputs: pd.DataFrame) -> None:
    with pytest.raises(ConfigError) as error:
        build.build(inputs, _with(synthetic_spec(inputs), case))
    assert error.value.what == (f"the feature spec has {named}, which the Meridian engine supports and the PyMC "
                                "engine does not")
    assert "model.backend=meridian" in error.value.fix and "model.backend=pymc" in error.value.where


@pytest.mark.parametrize("variant", ["geometric", "binomial", "hill_before_adstock", "geo"])
def test_experiment_roi_is_the_graphs_model_roi(variant: str) -> None:
    """The numpy answer (evaluate's calibration check) equals the likelihood term's model ROI, on prior draws of each
    model variant (a geo model with a test in one geo and a national one); the fits check it on posterior draws."""
    geos = ("B", "A") if variant == "geo" else ("national",)
    inputs = synthetic_inputs(geos, seed=1)
    tests = [_search_test(row=1, geo="A" if variant == "geo" else None), _search_test(row=2, channel="tv")]
    spec = dataclasses.replace(synthetic_spec(inputs, knots=2), experiments=tests,
                               decay_function="binomial" if variant == "binomial" else "geometric",
                               hill_before_adstock=variant == "hill_before_adstock")
    model = ENGINE.build(inputs, spec)
    prior = fit.sample_prior(model, 50, seed=2)
    model.mmm.idata = az.InferenceData(posterior=prior.prior, constant_data=prior.constant_data)
    model.sampled = True
    graph = prior.prior[MODEL_ROI].stack(s=("chain", "draw")).transpose(EXPERIMENT_DIM, "s").values
    table = ENGINE.experiment_roi(model, tests)
    np.testing.assert_allclose(table["model_roi_mean"], graph.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(table["model_roi_lo_90"], np.quantile(graph, 0.05, axis=1), rtol=1e-9)
    np.testing.assert_allclose(table["model_roi_hi_90"], np.quantile(graph, 0.95, axis=1), rtol=1e-9)
