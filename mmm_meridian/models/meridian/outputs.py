"""What the report needs from a fitted Meridian model: weekly decomposition, fit, marginal ROI, response curves, HTML.

Every table is a posterior summary over the model's own data; nothing is refitted.

Decomposition: Meridian's linear predictor on the scaled KPI is ``tau_g + mu_t + media + organic + treatments +
controls x gamma``; the KPI transform is linear (``(y / population - mean) / stdev``), so each term maps to the KPI by
multiplying with ``stdev x population``, and to revenue by the revenue per KPI of the week (1 for a revenue KPI). Each
paid channel (media and R&F), organic medium and non-media treatment comes from Meridian's ``incremental_outcome``
per week (a treatment's against its baseline value, Meridian's default: its minimum), the controls' terms from the
posterior mean of ``gamma_gc`` times the scaled controls, grouped by the feature spec's kinds into seasonality
(Fourier terms, holidays, events) and other controls (price, promotions). Controls are centred by Meridian's scaling,
so their terms swing around zero; the base (intercept, trend / knots, the controls' average level and the treatments'
baseline level) is what remains of expected revenue. The components add up to Meridian's expected revenue each week.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.models.base import (
    BASE,
    BASE_KINDS,
    CONTROLS,
    NON_MEDIA_TREATMENT,
    OPTIMAL_FREQUENCY_COLUMNS,
    ORGANIC,
    SEASONAL_KINDS,
    SEASONALITY,
    ModelOutputs,
)

# Meridian (through .adapter and .optimizer) is imported inside the functions that use it: importing this module
# (e.g. for the decomposition maths alone) must not load Meridian and its backend.

log = logging.getLogger(__name__)

CURVE_MULTIPLIERS = [round(x, 2) for x in np.linspace(0.0, 2.0, 21)]


def _quantiles(draws: np.ndarray) -> dict[str, np.ndarray]:
    return {"mean": draws.mean(axis=0), "median": np.median(draws, axis=0),
            "lo": np.quantile(draws, 0.05, axis=0), "hi": np.quantile(draws, 0.95, axis=0)}


def _names(coordinate: Any) -> list[str]:
    return [] if coordinate is None else [str(c) for c in coordinate.values]


# The helpers below read InputData's attributes (getattr for the optional ones) rather than calling adapter helpers:
# the decomposition maths must run without importing Meridian.
def _paid_channels(mmm: Any) -> list[str]:
    """Media channels, then reach-and-frequency channels (Meridian's ``get_all_paid_channels`` order)."""
    data = mmm.input_data
    return _names(getattr(data, "media_channel", None)) + _names(getattr(data, "rf_channel", None))


def _revenue_per_kpi(mmm: Any, shape: tuple[int, int]) -> np.ndarray:
    """(geo, time) money per KPI unit: the data's revenue per conversion, or ones for a revenue KPI."""
    per_kpi = getattr(mmm.input_data, "revenue_per_kpi", None)
    return np.ones(shape) if per_kpi is None else np.asarray(per_kpi, dtype=np.float64)


def _control_terms(mmm: Any) -> pd.DataFrame:
    """Per week and control: posterior-mean revenue effect of the control (all geos summed), as ``time x control``."""
    controls = getattr(mmm, "controls_scaled", None)
    posterior = mmm.inference_data.posterior
    if controls is None or "gamma_gc" not in posterior:
        return pd.DataFrame()
    scaled = np.asarray(controls, dtype=np.float64)  # (geo, time, control)
    gamma = np.asarray(posterior["gamma_gc"], dtype=np.float64)
    gamma = gamma.reshape(-1, *gamma.shape[-2:]).mean(axis=0)  # (geo, control): effect is linear in gamma
    stdev = float(np.asarray(mmm.kpi_transformer.population_scaled_stdev))
    population = np.asarray(mmm.input_data.population, dtype=np.float64)
    per_kpi = _revenue_per_kpi(mmm, scaled.shape[:2])
    effect = np.einsum("gtc,gc,g,gt->tc", scaled, gamma, population, per_kpi) * stdev
    names = [str(c) for c in mmm.input_data.controls.control_variable.values]
    times = pd.to_datetime([str(t) for t in mmm.input_data.time.values])
    return pd.DataFrame(effect, index=times, columns=names)


def _cause_effects(mmm: Any, tool: Any) -> dict[str, tuple[str, np.ndarray]]:
    """name -> (component type, posterior-mean incremental revenue per week) of every paid channel (media, then R&F),
    organic medium and non-media treatment, in Meridian's channel order."""
    paid = _paid_channels(mmm)
    organic = _names(getattr(mmm.input_data, "organic_media_channel", None))
    treatments = _names(getattr(mmm.input_data, "non_media_channel", None))
    # Paid channels alone unless the model has other causes: the same computation as before they existed.
    effects = np.asarray(tool.incremental_outcome(aggregate_times=False,
                                                  include_non_paid_channels=bool(organic or treatments)),
                         dtype=np.float64)
    effects = effects.reshape(-1, *effects.shape[-2:]).mean(axis=0)  # (time, channel), geos already summed
    kinds = ["media"] * len(paid) + [ORGANIC] * len(organic) + [NON_MEDIA_TREATMENT] * len(treatments)
    names = paid + organic + treatments
    return {name: (kind, effects[:, i]) for i, (name, kind) in enumerate(zip(names, kinds, strict=True))}


def decomposition(mmm: Any, tool: Any, control_kinds: dict[str, str], fit: pd.DataFrame) -> pd.DataFrame:
    """Weekly revenue split into base, seasonality, other controls, each paid channel, each organic medium and each
    non-media treatment (see module docstring)."""
    times = pd.to_datetime([str(t) for t in mmm.input_data.time.values])
    causes = _cause_effects(mmm, tool)
    terms = _control_terms(mmm)
    seasonal = np.zeros(len(times))
    other = np.zeros(len(times))
    for name in terms.columns:
        kind = control_kinds.get(name, "data_control")
        if kind in SEASONAL_KINDS:
            seasonal += terms[name].to_numpy()
        elif kind not in BASE_KINDS:
            other += terms[name].to_numpy()
    expected = fit.set_index("time").reindex(times)["expected"].to_numpy()
    base = expected - sum(effect for _, effect in causes.values()) - seasonal - other
    rows = [pd.DataFrame({"time": times, "component": BASE, "component_type": "base", "revenue": base})]
    if not terms.empty:
        rows.append(pd.DataFrame({"time": times, "component": SEASONALITY, "component_type": "seasonality",
                                  "revenue": seasonal}))
        rows.append(pd.DataFrame({"time": times, "component": CONTROLS, "component_type": "controls",
                                  "revenue": other}))
    rows += [pd.DataFrame({"time": times, "component": name, "component_type": kind, "revenue": effect})
             for name, (kind, effect) in causes.items()]
    return pd.concat(rows, ignore_index=True)


def fit_table(tool: Any) -> pd.DataFrame:
    """Actual revenue next to Meridian's expected revenue (90 % interval) and baseline, per week."""
    data = tool.expected_vs_actual_data(aggregate_geos=True, confidence_level=0.9)
    expected = data["expected"].to_pandas()
    baseline = data["baseline"].to_pandas()
    return pd.DataFrame({
        "time": pd.to_datetime(list(expected.index)), "actual": data["actual"].to_numpy().astype(np.float64),
        "expected": expected["mean"].to_numpy(np.float64), "expected_lo_90": expected["ci_lo"].to_numpy(np.float64),
        "expected_hi_90": expected["ci_hi"].to_numpy(np.float64), "baseline": baseline["mean"].to_numpy(np.float64)})


def marginal_roi(mmm: Any, tool: Any) -> pd.DataFrame:
    """Posterior marginal ROI per paid channel: extra revenue per extra unit of spend at the historical level (an R&F
    channel's extra spend buys more reach at its frequency)."""
    channels = _paid_channels(mmm)
    draws = np.asarray(tool.marginal_roi(), dtype=np.float64).reshape(-1, len(channels))
    q = _quantiles(draws)
    return pd.DataFrame({"channel": channels, "mroi_mean": q["mean"], "mroi_median": q["median"],
                         "mroi_lo_90": q["lo"], "mroi_hi_90": q["hi"]})


def optimal_frequency(mmm: Any, tool: Any) -> pd.DataFrame | None:
    """Per reach-and-frequency channel: Meridian's optimal frequency (``Analyzer.optimal_freq``: the weekly frequency,
    constant over geos and weeks at the historical spend, that maximises posterior-mean ROI), the frequency it ran at
    (impressions / reach over the period) and the posterior-mean ROI at each; None without R&F channels."""
    rf = _names(mmm.input_data.rf_channel)
    if not rf:
        return None
    result = tool.optimal_freq()
    n_times = len(mmm.input_data.time)
    reach = np.asarray(mmm.input_data.reach, dtype=np.float64)[:, -n_times:, :]  # media weeks before the KPI left out
    frequency = np.asarray(mmm.input_data.frequency, dtype=np.float64)[:, -n_times:, :]
    historical = (reach * frequency).sum(axis=(0, 1)) / np.maximum(reach.sum(axis=(0, 1)), 1e-12)
    roi = np.asarray(tool.roi(), dtype=np.float64)
    roi = roi.reshape(-1, roi.shape[-1])[:, -len(rf):].mean(axis=0)  # R&F channels come last
    table = pd.DataFrame({
        "channel": rf, "optimal_frequency": np.asarray(result["optimal_frequency"], dtype=np.float64),
        "historical_frequency": historical,
        "roi_at_optimal": np.asarray(result["optimized_roi"].sel(metric="mean"), dtype=np.float64),
        "roi_at_historical": roi})
    return table[list(OPTIMAL_FREQUENCY_COLUMNS)]


def response_curves(tool: Any, multipliers: list[float] | None = None) -> pd.DataFrame:
    """Meridian's response curves: incremental revenue (90 % interval) per channel at multiples of its spend."""
    curves = tool.response_curves(spend_multipliers=multipliers or CURVE_MULTIPLIERS, confidence_level=0.9)
    from mmm_meridian.models.meridian.optimizer import curves_frame

    frame = curves_frame(curves)
    return frame[["channel", "spend_multiplier", "spend", "incremental_revenue_mean", "incremental_revenue_lo",
                  "incremental_revenue_hi"]]


def model_outputs(mmm: Any, control_kinds: dict[str, str], with_curves: bool = True) -> ModelOutputs:
    """Every posterior summary the report draws from the model (a few seconds on the demo)."""
    from mmm_meridian.models.meridian import adapter

    tool = adapter.analyzer(mmm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Meridian's deprecation / national-model notices
        fit = fit_table(tool)
        parts = decomposition(mmm, tool, control_kinds, fit)
        mroi = marginal_roi(mmm, tool)
        curves = response_curves(tool) if with_curves else pd.DataFrame()
        frequency = optimal_frequency(mmm, tool)
    currency = getattr(mmm.input_data, "currency_code", None)
    return ModelOutputs(parts, fit, mroi, curves, str(currency) if currency else None, optimal_frequency=frequency)


def write_model_summary(mmm: Any, folder: Path, filename: str) -> Path | None:
    """Meridian's own HTML model results summary; None (with a warning) when Meridian cannot render it."""
    if "prior" not in mmm.inference_data.groups():
        log.warning("report: Meridian's HTML model summary not written: the fit has no prior draws "
                    "(training.sampler.n_prior_draws=0) and the page charts prior against posterior; set "
                    "training.sampler.n_prior_draws to 1 or more (default 500) and train again to get it")
        return None
    try:
        from meridian.analysis import summarizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summarizer.Summarizer(mmm).output_model_results_summary(filename, str(folder))
    except Exception as exc:  # noqa: BLE001 - Meridian's page is a courtesy copy; the deck does not depend on it
        log.warning("report: Meridian's HTML model summary could not be written (%s: %s)", type(exc).__name__, exc)
        return None
    return folder / filename
