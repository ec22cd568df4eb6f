"""Evaluation on the Meridian engine: holdout masks, the posterior predictive table, the model summary, geo holdouts."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.models.meridian import adapter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from meridian.model import model as meridian_model
    from meridian.model import spec as meridian_spec

def _excluded_mask(mmm: Any) -> np.ndarray:
    """Boolean (geo, time) mask of the weeks excluded from the fit because their KPI is a placeholder.

    :func:`mmm_meridian.models.meridian.adapter.build_holdout` writes them as CLOSED date ranges (start and end), the
    forecast holdouts as open ranges running to the end of the data; this reads the closed ones back.
    """
    geos = [str(g) for g in mmm.input_data.geo.values]
    times = pd.to_datetime([str(t) for t in mmm.input_data.time.values])
    excluded = np.zeros((len(geos), len(times)), dtype=bool)
    holdout = getattr(mmm.model_spec, "holdout", None)
    if holdout is None or getattr(mmm.model_spec, "holdout_id", None) is not None \
            or isinstance(holdout.spec, meridian_spec.RandomHoldoutSpec):
        return excluded
    entries = [(None, r) for r in holdout.spec if isinstance(r, meridian_spec.DateRange)]
    entries += [(geo, r) for g in holdout.spec if isinstance(g, meridian_spec.GeoHoldoutSpec)
                for geo in g.geos for r in g.date_ranges]
    for geo, date_range in entries:
        if date_range.start_date is None or date_range.end_date is None:
            continue  # an open range is a forecast holdout
        inside = (times >= pd.Timestamp(date_range.start_date)) & (times <= pd.Timestamp(date_range.end_date))
        rows = slice(None) if geo is None else [geos.index(str(geo))]
        excluded[rows, inside] = True
    return excluded


def holdout_mask(mmm: Any) -> np.ndarray:
    """Boolean (geo, time) mask of the observations held out of the fit AS A FORECAST to score (all False without).

    Weeks that Meridian also leaves out of the likelihood because their KPI is only a placeholder for a long gap
    (``enhanced_cleaning.missing_data.kpi_long_gaps=exclude``) are not part of it: there is no real KPI to score there.
    """
    n_geos, n_times = len(mmm.input_data.geo), len(mmm.input_data.time)
    mask = mmm.model_context.compiled_holdout_id
    if mask is None:
        return np.zeros((n_geos, n_times), dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    mask = np.broadcast_to(mask, (n_geos, n_times)) if mask.ndim == 1 else mask
    return mask & ~_excluded_mask(mmm)


def predictive_table(mmm: Any, interval: float, seed: int = 0) -> pd.DataFrame:
    """Per (geo, week): actual revenue, posterior mean of expected revenue and the posterior PREDICTIVE interval.

    Meridian's likelihood is Normal(mu, sigma) on the scaled KPI, ``kpi = (scaled x stdev + mean) x population``
    (revenue KPI), so a predictive draw is the expected revenue of a draw plus Normal noise with standard deviation
    ``sigma x stdev x population`` (times the week's revenue per KPI for a conversions KPI: every column is in money).
    Coverage is measured on this interval, not on the narrower interval of the
    expected revenue, which ignores observation noise. ``holdout`` marks the forecast to score, ``excluded`` the weeks
    whose KPI is only a placeholder (``kpi_long_gaps=exclude``): neither is scored in sample.
    """
    tool = adapter.analyzer(mmm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(tool.expected_outcome(aggregate_geos=False, aggregate_times=False), dtype=np.float64)
    n_chain, n_draw, n_geos, n_times = expected.shape
    sigma = np.asarray(mmm.inference_data.posterior["sigma"], dtype=np.float64).reshape(n_chain, n_draw, -1)
    stdev = float(np.asarray(mmm.kpi_transformer.population_scaled_stdev))
    population = np.asarray(mmm.input_data.population, dtype=np.float64).reshape(-1)
    if len(population) != n_geos or n_geos == 1:
        population = np.ones(n_geos)  # Meridian resets population to 1 in national models
    # The noise is on the KPI: a conversions KPI's noise in money is at each week's revenue per conversion.
    per_kpi = adapter.revenue_per_kpi(mmm)[None, None]
    noise_sd = sigma[..., :, None] * stdev * population[None, None, :, None] * per_kpi  # (chain, draw, geo, time)
    rng = np.random.default_rng(seed)
    draws = expected + rng.standard_normal(expected.shape) * noise_sd
    draws = draws.reshape(-1, n_geos, n_times)
    tail = (1 - interval) / 2
    geos = [str(g) for g in mmm.input_data.geo.values]
    times = [str(t) for t in mmm.input_data.time.values]
    return pd.DataFrame({
        cols.GEO: np.repeat(geos, n_times), cols.TIME: np.tile(times, n_geos),
        "actual": adapter.actual_revenue(mmm).reshape(-1),
        "predicted_mean": expected.reshape(-1, n_geos, n_times).mean(axis=0).reshape(-1),
        "predicted_lo": np.quantile(draws, tail, axis=0).reshape(-1),
        "predicted_hi": np.quantile(draws, 1 - tail, axis=0).reshape(-1),
        "holdout": holdout_mask(mmm).reshape(-1), "excluded": _excluded_mask(mmm).reshape(-1)})


def model_summary(mmm: Any) -> dict[str, Any]:
    """What the business checks need: ROI table, media and total revenue, negative-baseline probability."""
    roi = adapter.roi_table(mmm)
    tool = adapter.analyzer(mmm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        negative = float(tool.negative_baseline_probability())
    return {"roi": roi, "channels": adapter.channel_names(mmm),
            "times": [str(t) for t in mmm.input_data.time.values],
            "geos": [str(g) for g in mmm.input_data.geo.values],
            "total_revenue": float(adapter.actual_revenue(mmm).sum()),
            "media_revenue": float(roi["incremental_revenue"].sum()), "negative_baseline_prob": negative}


def with_geo_holdout(mmm: Any, geos: list[str], start: str) -> Any:
    """The same model with the weeks from ``start`` held out in ``geos`` only (weeks excluded for a placeholder KPI
    stay excluded, as closed ranges: see :func:`holdout_mask`)."""
    excluded = _excluded_mask(mmm)
    names = [str(g) for g in mmm.input_data.geo.values]
    times = [str(t) for t in mmm.input_data.time.values]
    specs = []
    for row, geo in enumerate(names):
        ranges = [meridian_spec.DateRange(start_date=start)] if geo in geos else []
        ranges += [meridian_spec.DateRange(start_date=a, end_date=b) for a, b in
                   adapter.week_runs([times[j] for j in np.flatnonzero(excluded[row])], times)]
        if ranges:
            specs.append(meridian_spec.GeoHoldoutSpec(geos=[geo], date_ranges=ranges))
    holdout = meridian_spec.HoldoutSpec(spec=specs)
    spec = dataclasses.replace(mmm.model_spec, holdout=holdout, holdout_id=None)
    return meridian_model.Meridian(input_data=mmm.input_data, model_spec=spec)
