"""Shared fixtures of the PyMC engine's tests: tiny synthetic model inputs (the features stage's contract) and fits.

Deliberately no ``__init__.py`` in this folder: test folders are packages named after their folder, and a package
called ``pymc`` would shadow the PyMC library.

The fits use tiny samplers (2 chains x 100 tuning x 100 kept draws, numpyro): enough to exercise every answer, not
to converge. Each fitted fixture is shared by the whole session; run at most one fit at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from pymc_engine_data import EXCLUDED, HOLDOUT_WEEKS, fit_tiny, synthetic_inputs, synthetic_spec, tv_experiment

from mmm_meridian.feature_spec import FeatureSpec


@pytest.fixture(scope="session")
def national_inputs() -> pd.DataFrame:
    return synthetic_inputs()


@pytest.fixture(scope="session")
def national_spec(national_inputs: pd.DataFrame) -> FeatureSpec:
    return synthetic_spec(national_inputs, knots=3, holdout_weeks=HOLDOUT_WEEKS)


@pytest.fixture(scope="session")
def national_fit(national_inputs: pd.DataFrame, national_spec: FeatureSpec) -> tuple[Any, dict[str, float]]:
    """A national model with the last 6 weeks held out, sampled with the tiny numpyro sampler."""
    return fit_tiny(national_inputs, national_spec, HOLDOUT_WEEKS)


@pytest.fixture(scope="session")
def experiment_fit(national_inputs: pd.DataFrame, national_spec: FeatureSpec) -> tuple[Any, dict[str, float]]:
    """``national_fit``'s model and sampler with one lift test of tv (:func:`pymc_engine_data.tv_experiment`)."""
    spec = dataclasses.replace(national_spec, experiments=[tv_experiment(national_inputs)])
    return fit_tiny(national_inputs, spec, HOLDOUT_WEEKS)


@pytest.fixture(scope="session")
def geo_inputs() -> pd.DataFrame:
    return synthetic_inputs(("B", "A"), seed=1)  # listed out of order: the model orders geos by name


@pytest.fixture(scope="session")
def geo_spec(geo_inputs: pd.DataFrame) -> FeatureSpec:
    return synthetic_spec(geo_inputs, knots=2, excluded=EXCLUDED)


@pytest.fixture(scope="session")
def geo_fit(geo_inputs: pd.DataFrame, geo_spec: FeatureSpec) -> tuple[Any, dict[str, float]]:
    """A 2-geo model with two placeholder weeks excluded in geo B, sampled with the tiny numpyro sampler."""
    return fit_tiny(geo_inputs, geo_spec)


@pytest.fixture
def make_inputs() -> Callable[..., pd.DataFrame]:
    return synthetic_inputs


@pytest.fixture
def make_spec() -> Callable[..., FeatureSpec]:
    return synthetic_spec
