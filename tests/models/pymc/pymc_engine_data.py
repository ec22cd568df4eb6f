"""Tiny synthetic model inputs and feature specs for the PyMC engine's tests (the features stage's contract).

A plain module with a name of its own (this test folder is not a package, see conftest.py).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.feature_spec import ChannelInput, ChannelPriors, ControlInput, ExperimentInput, FeatureSpec
from mmm_meridian.models.base import SamplerSettings

N_WEEKS = 60
CHANNELS = {"tv": {"cost": 0.02, "scale": 10_000.0, "decay": 0.5, "half": 1.0, "beta": 700.0},
            "search": {"cost": 0.5, "scale": 600.0, "decay": 0.2, "half": 0.8, "beta": 500.0}}
TV_ROI_BOUNDS = (1.0, 4.0)
TINY = SamplerSettings(n_chains=2, n_adapt=50, n_burnin=50, n_keep=100, seed=7, nuts_sampler="numpyro")


def _adstock(x: np.ndarray, decay: float, lags: int = 5) -> np.ndarray:
    w = decay ** np.arange(lags)
    w = w / w.sum()
    return np.array([sum(w[k] * x[t - k] for k in range(lags) if t - k >= 0) for t in range(len(x))])


def synthetic_inputs(geos: tuple[str, ...] = ("national",), n_weeks: int = N_WEEKS, seed: int = 0) -> pd.DataFrame:
    """Model inputs: per geo and week revenue, population, media and spend of tv and search, two controls."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2022-01-03", periods=n_weeks, freq="7D")
    week = np.arange(n_weeks)
    frames = []
    for g, geo in enumerate(geos):
        size = 1.0 / (1 + g)
        row: dict[str, Any] = {"time": times, "geo": geo, "population": 1e5 * size}
        revenue = size * (2000.0 + 3.0 * week) + 0.0
        sin = np.sin(2 * math.pi * week / 52.18)
        price = rng.normal(0.0, 1.0, n_weeks)
        revenue = revenue + size * (300.0 * sin - 80.0 * price)
        for name, c in CHANNELS.items():
            media = size * rng.gamma(4.0, c["scale"] / 4.0, n_weeks)
            if name == "tv":
                media[rng.random(n_weeks) < 0.2] = 0.0  # flighting: some weeks off air
            stocked = _adstock(media / np.median(media[media > 0]), c["decay"])
            revenue = revenue + size * c["beta"] * stocked / (c["half"] + stocked)
            row[f"{name}__media"] = media
            row[f"{name}__spend"] = media * c["cost"] * rng.uniform(0.95, 1.05, n_weeks)
        row["revenue"] = revenue + rng.normal(0.0, 40.0 * size, n_weeks)
        row["sin_1"] = sin
        row["price"] = price
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


def true_roi(inputs: pd.DataFrame, channel: str, start: str | None = None, end: str | None = None) -> float:
    """The simulation's ROI of a national channel's spend in weeks ``start..end`` (None: the whole period), its
    carryover included: the revenue the generator's curve loses when that media is switched off, over that spend."""
    c = CHANNELS[channel]
    media = inputs[f"{channel}__media"].to_numpy()
    times = pd.to_datetime(inputs["time"])
    window = ((times >= (start or times.min())) & (times <= (end or times.max()))).to_numpy()

    def revenue(x: np.ndarray) -> np.ndarray:
        stocked = _adstock(x / np.median(media[media > 0]), c["decay"])
        return c["beta"] * stocked / (c["half"] + stocked)

    lost = revenue(media).sum() - revenue(np.where(window, 0.0, media)).sum()
    return float(lost / inputs[f"{channel}__spend"].to_numpy()[window].sum())


TV_TEST_WEEKS = ("2022-03-14", "2022-05-30")  # 12 weeks of the national data


def tv_experiment(inputs: pd.DataFrame, roi_se: float = 0.15, row: int = 1) -> ExperimentInput:
    """A national lift test of tv over :data:`TV_TEST_WEEKS` measuring the simulation's true ROI there."""
    start, end = TV_TEST_WEEKS
    return ExperimentInput(row=row, channel="tv", start=start, end=end, geo=None,
                           roi=round(true_roi(inputs, "tv", start, end), 3), roi_se=roi_se, measured="roi",
                           spend=float(inputs.loc[inputs["time"].between(start, end), "tv__spend"].sum()))


def _priors(channel: str, roi: tuple[float, float], decay: float) -> ChannelPriors:
    return ChannelPriors(channel=channel, roi_mu=roi[0], roi_sigma=roi[1], roi_source="test", roi_bounds=None,
                         decay=decay, decay_alpha=decay * 10, decay_beta=(1 - decay) * 10, decay_fixed=False,
                         decay_source="test", ec_mu=math.log(0.8), ec_sigma=1 / math.sqrt(2), k=0.8, k_source="test")


def tv_roi_prior() -> tuple[float, float]:
    """LogNormal(mu, sigma) with 90 % of its mass in TV_ROI_BOUNDS (the features stage's mapping)."""
    low, high = TV_ROI_BOUNDS
    z = 1.6448536269514722
    sigma = math.log(high / low) / (2 * z)
    return math.log(high) - z * sigma, sigma


def synthetic_spec(inputs: pd.DataFrame, *, knots: int | None = 3, holdout_weeks: int = 0,
                   excluded: dict[str, list[str]] | None = None) -> FeatureSpec:
    """The feature spec of :func:`synthetic_inputs`: tv with roi_bounds-like priors, search with the default."""
    geos = [str(g) for g in inputs["geo"].unique()]
    times = pd.to_datetime(inputs["time"])
    channels = [ChannelInput("tv", "impressions", "tv_impressions", float(inputs["tv__spend"].sum()),
                             _priors("tv", tv_roi_prior(), 0.5)),
                ChannelInput("search", "impressions", "search_clicks", float(inputs["search__spend"].sum()),
                             _priors("search", (0.2, 0.9), 0.3))]
    controls = [ControlInput("sin_1", "annual_fourier"), ControlInput("price", "data_control")]
    return FeatureSpec(channels=channels, controls=controls, geos=geos, time_start=times.min().strftime("%Y-%m-%d"),
                       time_end=times.max().strftime("%Y-%m-%d"), n_weeks=int(times.nunique()),
                       population_source="test", knots=knots, knots_reason="test", decay_function="geometric",
                       max_lag=4, hill_before_adstock=False, holdout_weeks=holdout_weeks,
                       excluded_weeks=excluded or {}, geo_variation={"media": 0.2, "controls": 0.2})


HOLDOUT_WEEKS = 6
EXCLUDED = {"B": ["2022-03-14", "2022-03-21"]}


def fit_tiny(inputs: pd.DataFrame, spec: FeatureSpec, holdout_weeks: int = 0) -> tuple[Any, dict[str, float]]:
    """Build and sample a PyMC-engine model with the tiny sampler (warnings silenced)."""
    import jax

    from mmm_meridian.models.pymc import ENGINE

    model = ENGINE.build(inputs, spec, holdout_weeks=holdout_weeks)
    x64 = bool(jax.config.jax_enable_x64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timings = ENGINE.sample(model, TINY)
    # The engine leaves JAX's process-wide precision as it found it (other tests in this process use Meridian).
    assert bool(jax.config.jax_enable_x64) == x64
    return model, timings
