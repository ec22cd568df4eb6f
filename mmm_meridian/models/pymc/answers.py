"""Posterior answers of the PyMC engine in the engine-neutral tables of :mod:`mmm_meridian.models.base`.

Every table is computed from the posterior parameters with :class:`~.model.Posterior` (no refitting, no
compilation): ROI = incremental revenue over the whole period (every week and geo, holdout weeks included) / spend,
per posterior draw; expected revenue = the likelihood's mean; the posterior PREDICTIVE interval adds the likelihood's
Normal noise (``y_sigma`` x the geo's revenue scale) to each draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.models.base import EXPECTED_COLUMNS, PREDICTIVE_COLUMNS, ROI_COLUMNS, ModelSummary
from mmm_meridian.models.pymc.model import PymcModel

BASELINE_MAX_DRAWS = 1000  # draws used for the negative-baseline probability (+-0.016 at worst)


def channel_names(model: PymcModel) -> list[str]:
    return list(model.record.channels)


def historical_spend(model: PymcModel) -> np.ndarray:
    """Spend per channel over the whole modelled period (all geos)."""
    return model.record.spend.sum(axis=(0, 1))


def weekly_spend(model: PymcModel) -> pd.DataFrame:
    """Spend per week (rows: ISO dates, geos summed) and channel (columns)."""
    return pd.DataFrame(model.record.spend.sum(axis=1), index=list(model.record.times),
                        columns=channel_names(model))


def _summary(draws: np.ndarray, lo: float = 0.05, hi: float = 0.95) -> dict[str, np.ndarray]:
    return {"mean": draws.mean(axis=0), "median": np.median(draws, axis=0), "lo": np.quantile(draws, lo, axis=0),
            "hi": np.quantile(draws, hi, axis=0)}


def roi_table(model: PymcModel) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.ROI_COLUMNS`, one row per channel."""
    incremental = model.posterior().contribution()  # (draw, channel)
    spend = historical_spend(model)
    roi = incremental / spend[None, :]
    q = _summary(roi)
    table = pd.DataFrame({"channel": channel_names(model), "spend": spend,
                          "incremental_revenue": incremental.mean(axis=0), "roi_mean": q["mean"],
                          "roi_median": q["median"], "roi_lo_90": q["lo"], "roi_hi_90": q["hi"]})
    return table[list(ROI_COLUMNS)]


def _long(model: PymcModel, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """(week, geo) arrays as rows ordered by geo, then week."""
    record = model.record
    n_t, n_g = len(record.times), len(record.geos)
    frame = {cols.GEO: np.repeat(record.geos, n_t), cols.TIME: np.tile(record.times, n_g)}
    frame.update({name: np.asarray(v).T.reshape(-1) for name, v in values.items()})
    return pd.DataFrame(frame)


def expected_vs_actual(model: PymcModel) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.EXPECTED_COLUMNS` per (geo, week): expected revenue and its 90 % interval."""
    post = model.posterior()
    q = _summary(post.expected())
    table = _long(model, {"actual": post.revenue, "predicted_mean": q["mean"], "predicted_median": q["median"],
                          "predicted_lo_90": q["lo"], "predicted_hi_90": q["hi"]})
    return table[list(EXPECTED_COLUMNS)]


def holdout_mask(model: PymcModel) -> np.ndarray:
    """(geo, time) booleans: the forecast holdout (excluded placeholder weeks not included)."""
    return (model.record.holdout & ~model.record.excluded).T.copy()


def predictive_table(model: PymcModel, interval: float, seed: int = 0) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.PREDICTIVE_COLUMNS`: the posterior predictive interval per (geo, week)."""
    post = model.posterior()
    expected = post.expected()  # (draw, week, geo)
    noise_sd = post.sigma[:, None, :] * post.target_scale[None, None, :]
    rng = np.random.default_rng(seed)
    draws = expected + rng.standard_normal(expected.shape) * noise_sd
    tail = (1.0 - interval) / 2.0
    record = model.record
    table = _long(model, {"actual": post.revenue, "predicted_mean": expected.mean(axis=0),
                          "predicted_lo": np.quantile(draws, tail, axis=0),
                          "predicted_hi": np.quantile(draws, 1.0 - tail, axis=0),
                          "holdout": record.holdout & ~record.excluded, "excluded": record.excluded})
    table["holdout"] = table["holdout"].astype(bool)
    table["excluded"] = table["excluded"].astype(bool)
    return table[list(PREDICTIVE_COLUMNS)]


def _thinned_draws(n: int, max_draws: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, max_draws)).round().astype(int))


def negative_baseline_prob(model: PymcModel, max_draws: int = BASELINE_MAX_DRAWS) -> float:
    """Posterior probability that revenue without media, summed over the period and geos, is negative."""
    post = model.posterior()
    draws = _thinned_draws(post.n_samples, max_draws)
    return float((post.baseline(draws).sum(axis=(1, 2)) < 0).mean())


def revenue_figures(model: PymcModel) -> dict[str, float]:
    """``total_revenue`` (every week and geo) and ``negative_baseline_prob`` for the plausibility gate."""
    return {"total_revenue": float(model.posterior().revenue.sum()),
            "negative_baseline_prob": negative_baseline_prob(model)}


def model_summary(model: PymcModel) -> ModelSummary:
    """What evaluate's business checks need."""
    roi = roi_table(model)
    return ModelSummary(roi=roi, channels=channel_names(model), times=list(model.record.times),
                        geos=list(model.record.geos), total_revenue=float(model.posterior().revenue.sum()),
                        media_revenue=float(roi["incremental_revenue"].sum()),
                        negative_baseline_prob=negative_baseline_prob(model))
