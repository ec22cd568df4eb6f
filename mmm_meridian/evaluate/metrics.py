"""Accuracy and calibration metrics on prediction tables, and pass / fail judgements against thresholds.

A prediction table has one row per (geo, week): ``actual``, ``predicted_mean`` (posterior mean of expected
revenue), ``predicted_lo`` / ``predicted_hi`` (the posterior predictive interval, observation noise included) and a
boolean ``holdout`` (the week was left out of the fit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.frame import excluded_rows


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error over rows whose actual is not zero (a share: 0.1 = 10 %)."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    keep = actual != 0
    return float(np.mean(np.abs(actual[keep] - predicted[keep]) / np.abs(actual[keep]))) if keep.any() else np.nan


def wmape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Absolute errors weighted by the actuals: sum |a - p| / sum |a|."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    total = np.abs(actual).sum()
    return float(np.abs(actual - predicted).sum() / total) if total else np.nan


def r_squared(actual: np.ndarray, predicted: np.ndarray) -> float:
    """1 - SSE / SST around the mean of the actuals scored."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    sst = np.sum((actual - actual.mean()) ** 2)
    return float(1.0 - np.sum((actual - predicted) ** 2) / sst) if sst > 0 else np.nan


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside their interval [lo, hi]."""
    actual = np.asarray(actual, dtype=float)
    inside = (actual >= np.asarray(lo, dtype=float)) & (actual <= np.asarray(hi, dtype=float))
    return float(inside.mean()) if actual.size else np.nan


def score(predictions: pd.DataFrame, rows: pd.Series | None = None) -> dict[str, float]:
    """MAPE, wMAPE, R-squared and interval coverage over ``rows`` (all rows when None)."""
    frame = predictions if rows is None else predictions[rows.to_numpy(dtype=bool)]
    a, p = frame["actual"].to_numpy(), frame["predicted_mean"].to_numpy()
    return {"n": int(len(frame)), "mape": mape(a, p), "wmape": wmape(a, p), "r2": r_squared(a, p),
            "coverage": coverage(a, frame["predicted_lo"].to_numpy(), frame["predicted_hi"].to_numpy())}


def scored_in_sample(predictions: pd.DataFrame) -> pd.Series:
    """Rows to score in sample: fitted weeks with a real KPI (not the forecast holdout, not a placeholder KPI kept
    out of the likelihood, ``excluded``, when the table says so)."""
    rows = ~predictions["holdout"].astype(bool)
    if "excluded" in predictions:
        rows &= ~predictions["excluded"].astype(bool)
    return rows


def mark_excluded(predictions: pd.DataFrame, excluded_weeks: dict[str, list[str]], geo_col: str = "geo",
                  time_col: str = "time") -> pd.DataFrame:
    """Add ``excluded`` from ``feature_spec.json``'s ``excluded_weeks`` (geo -> ISO weeks) and take those rows out of
    ``holdout`` (there is no real KPI to score there). A one-geo table matches on the week alone (Meridian renames the
    national geo)."""
    out = predictions.copy()
    excluded = excluded_rows(out, excluded_weeks, geo_col=geo_col, time_col=time_col,
                             any_geo=out[geo_col].nunique() == 1)
    out["excluded"] = excluded.to_numpy(dtype=bool) | (out["excluded"].astype(bool).to_numpy()
                                                       if "excluded" in out else False)
    out["holdout"] = out["holdout"].astype(bool) & ~out["excluded"]
    return out


@dataclass
class Check:
    """One judged number: ``passed`` is None when no threshold is configured (reported only)."""

    name: str
    value: float | None
    threshold: float | None
    direction: str  # "max": value must stay <= threshold; "min": value must reach >= threshold; "flag": see detail
    passed: bool | None
    blocking: bool = False
    detail: str = ""
    # Words that must be read with the value, e.g. "refit not converged" (see mmm_meridian.evaluate.convergence)
    caveat: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(name: str, value: float | None, threshold: float | None, direction: str, blocking: list[str],
          detail: str = "") -> Check:
    """A check of ``value`` against ``threshold`` (``max``: at most, ``min``: at least); NaN fails."""
    if threshold is None or value is None:
        passed = None
    elif not np.isfinite(value):
        passed = False
    else:
        passed = bool(value <= threshold) if direction == "max" else bool(value >= threshold)
    return Check(name, value, threshold, direction, passed, name in blocking, detail)


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation, min and max of per-split values (NaNs ignored)."""
    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if data.size == 0:
        return {"mean": np.nan, "sd": np.nan, "min": np.nan, "max": np.nan}
    return {"mean": float(data.mean()), "sd": float(data.std(ddof=1)) if data.size > 1 else 0.0,
            "min": float(data.min()), "max": float(data.max())}


def roi_movement(roi_tables: list[pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Per channel, how much the posterior-mean ROI moves between splits (spread and range relative to its mean)."""
    if not roi_tables:
        return {}
    stacked = pd.concat([t[["channel", "roi_mean"]].assign(split=i) for i, t in enumerate(roi_tables)])
    out = {}
    for channel, group in stacked.groupby("channel", sort=False):
        stats = spread(group["roi_mean"].tolist())
        stats["relative_range"] = (stats["max"] - stats["min"]) / stats["mean"] if stats["mean"] else np.nan
        out[str(channel)] = stats
    return out
