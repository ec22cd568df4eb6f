"""Experiments on a geo model: a geo's test is answered in that geo, geo tests add up to the national one, and an R&F
channel's experiment window calibrates ``roi_rf`` (Meridian's ``rf_roi_calibration``).

As in test_meridian_vocabulary.py, the model's prior draws stand in for its posterior: on them, Meridian's ``roi_m`` /
``roi_rf`` of a calibrated channel IS the ROI of its spend in the window, which the national tests must reproduce.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from meridian_vocab_data import GEOS, RF, experiment, geo_inputs, geo_spec, week

from mmm_meridian.feature_spec import ExperimentInput, FeatureSpec
from mmm_meridian.models.meridian import ENGINE

MEDIA_TEST = (20, 27)  # Channel0's weeks
RF_TEST = (30, 35)  # rf_video's weeks


# A 3-geo model with every cause takes about a minute to build and answer: slow. The national file covers the
# calibration itself; the PyMC engine's fit tests cover geo experiments in the default suite.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs() -> pd.DataFrame:
    return geo_inputs()


@pytest.fixture(scope="module")
def tests(inputs: pd.DataFrame) -> list[ExperimentInput]:
    """The spec's two national tests: Channel0 (row 1) and the R&F channel (row 2)."""
    return [experiment(inputs, "Channel0", week(inputs, MEDIA_TEST[0]), week(inputs, MEDIA_TEST[1]), row=1),
            experiment(inputs, RF, week(inputs, RF_TEST[0]), week(inputs, RF_TEST[1]), row=2)]


@pytest.fixture(scope="module")
def spec(inputs: pd.DataFrame, tests: list[ExperimentInput]) -> FeatureSpec:
    return geo_spec(inputs, tests)


@pytest.fixture(scope="module")
def model(inputs: pd.DataFrame, spec: FeatureSpec, jax_cache_dir: Path) -> Any:
    mmm = ENGINE.build(inputs, spec)
    import jax  # loaded with Meridian by build: compile into the session's cache

    jax.config.update("jax_compilation_cache_dir", str(jax_cache_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mmm.sample_prior(30, seed=2)
    mmm.inference_data.add_groups(posterior=mmm.inference_data.prior)
    return mmm


def _prior_mean(mmm: Any, name: str) -> np.ndarray:
    values = np.asarray(mmm.inference_data.prior[name], dtype=np.float64)
    return values.reshape(-1, values.shape[-1]).mean(axis=0)


def test_an_rf_channels_window_calibrates_roi_rf(model: Any, spec: FeatureSpec) -> None:
    period = model.model_context.compiled_rf_roi_calibration_period
    assert list(np.flatnonzero(period[:, 0])) == list(range(RF_TEST[0], RF_TEST[1] + 1))
    assert list(np.flatnonzero(model.model_context.compiled_roi_calibration_period[:, 0])) == \
        list(range(MEDIA_TEST[0], MEDIA_TEST[1] + 1))
    assert float(np.asarray(model.prior_broadcast.eta_rf.distribution.scale)) == pytest.approx(0.3)


def test_national_tests_reproduce_the_calibrated_roi_parameters(model: Any, tests: list[ExperimentInput]) -> None:
    table = ENGINE.experiment_roi(model, tests).set_index("row")
    assert table.loc[1, "model_roi_mean"] == pytest.approx(_prior_mean(model, "roi_m")[0], rel=1e-6)
    assert table.loc[2, "model_roi_mean"] == pytest.approx(_prior_mean(model, "roi_rf")[0], rel=1e-6)


def test_a_geos_test_is_answered_in_that_geo_and_geos_add_up(model: Any, inputs: pd.DataFrame,
                                                            tests: list[ExperimentInput]) -> None:
    start, end = tests[0].start, tests[0].end
    per_geo = [experiment(inputs, "Channel0", start, end, row=10 + i, geo=geo) for i, geo in enumerate(GEOS)]
    table = ENGINE.experiment_roi(model, [tests[0], *per_geo]).set_index("row")
    for test in per_geo:
        assert table.loc[test.row, "spend"] == pytest.approx(test.spend)
    geo_rows = [t.row for t in per_geo]
    assert table.loc[geo_rows, "spend"].sum() == pytest.approx(table.loc[1, "spend"])
    # Incremental revenue is additive over geos: the geo tests' answers add up to the national test's.
    assert table.loc[geo_rows, "model_incremental_revenue"].sum() == \
        pytest.approx(table.loc[1, "model_incremental_revenue"], rel=1e-6)
    assert len(set(np.round(table.loc[geo_rows, "model_roi_mean"], 9))) == len(GEOS)  # each geo its own ROI
