"""What the report needs from the fitted PyMC model: weekly decomposition, fit, marginal ROI and response curves.

Decomposition: the model's expected revenue is ``(intercept + media + controls x gamma) x revenue scale`` per geo, a
sum of terms, so each term's posterior mean (geos summed) is its share of the posterior-mean expected revenue. Media
per channel is its contribution; the controls are grouped by their kinds (the feature spec's, plus ``trend`` for the
engine's knot columns) into seasonality (Fourier terms, holidays, events) and other controls (promotions, data
controls); the base (intercept and trend) is what remains, so the components add up to the expected revenue each
week exactly. Controls are standardised, so their terms swing around zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian.models.base import (
    BASE,
    BASE_KINDS,
    CONTROLS,
    DECOMPOSITION_COLUMNS,
    FIT_COLUMNS,
    MROI_COLUMNS,
    SEASONAL_KINDS,
    SEASONALITY,
    ModelOutputs,
)
from mmm_meridian.models.pymc import budget
from mmm_meridian.models.pymc.model import PymcModel

REPORT_CURVE_MULTIPLIERS = np.round(np.linspace(0.0, 2.0, 21), 2)


def fit_table(model: PymcModel) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.FIT_COLUMNS` per week, all geos summed."""
    post = model.posterior()
    expected = post.expected().sum(axis=2)  # (draw, week)
    baseline = post.baseline().sum(axis=2)
    table = pd.DataFrame({
        "time": pd.to_datetime(model.record.times), "actual": post.revenue.sum(axis=1),
        "expected": expected.mean(axis=0), "expected_lo_90": np.quantile(expected, 0.05, axis=0),
        "expected_hi_90": np.quantile(expected, 0.95, axis=0), "baseline": baseline.mean(axis=0)})
    return table[list(FIT_COLUMNS)]


def decomposition(model: PymcModel, control_kinds: dict[str, str], fit: pd.DataFrame) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.DECOMPOSITION_COLUMNS` (see the module docstring)."""
    post = model.posterior()
    times = pd.to_datetime(model.record.times)
    media = post.contribution(reduce="week").mean(axis=0)  # (week, channel)
    kinds = {**control_kinds, **model.record.control_kinds}
    seasonal = np.zeros(len(times))
    other = np.zeros(len(times))
    terms = post.control_terms()
    if terms is not None:
        mean_terms = terms.sum(axis=2).mean(axis=0)  # (week, control)
        for k, name in enumerate(model.record.controls):
            kind = kinds.get(name, "data_control")
            if kind in SEASONAL_KINDS:
                seasonal += mean_terms[:, k]
            elif kind not in BASE_KINDS:
                other += mean_terms[:, k]
    expected = fit["expected"].to_numpy(np.float64)
    base = expected - media.sum(axis=1) - seasonal - other
    rows = [pd.DataFrame({"time": times, "component": BASE, "component_type": "base", "revenue": base})]
    if terms is not None:
        rows.append(pd.DataFrame({"time": times, "component": SEASONALITY, "component_type": "seasonality",
                                  "revenue": seasonal}))
        rows.append(pd.DataFrame({"time": times, "component": CONTROLS, "component_type": "controls",
                                  "revenue": other}))
    rows += [pd.DataFrame({"time": times, "component": ch, "component_type": "media", "revenue": media[:, i]})
             for i, ch in enumerate(model.record.channels)]
    return pd.concat(rows, ignore_index=True)[list(DECOMPOSITION_COLUMNS)]


def marginal_roi_table(model: PymcModel) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.MROI_COLUMNS`: revenue per extra unit of spend at the historical level."""
    draws = budget.marginal_roi(model)
    table = pd.DataFrame({"channel": model.record.channels, "mroi_mean": draws.mean(axis=0),
                          "mroi_median": np.median(draws, axis=0), "mroi_lo_90": np.quantile(draws, 0.05, axis=0),
                          "mroi_hi_90": np.quantile(draws, 0.95, axis=0)})
    return table[list(MROI_COLUMNS)]


def model_outputs(model: PymcModel, control_kinds: dict[str, str], with_curves: bool = True) -> ModelOutputs:
    """Every posterior summary the report draws from the model."""
    fit = fit_table(model)
    parts = decomposition(model, control_kinds, fit)
    mroi = marginal_roi_table(model)
    curves = budget.curves(model, REPORT_CURVE_MULTIPLIERS) if with_curves else pd.DataFrame()
    return ModelOutputs(parts, fit, mroi, curves, None)
