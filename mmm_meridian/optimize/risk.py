"""Risk and guardrails around a recommendation: posterior comparison of two plans, extrapolation flags, notes.

Meridian's optimiser maximises the posterior MEAN of incremental revenue. Here the current and the recommended
plan are evaluated on the same posterior draws (paired), which gives the probability that the recommendation beats
the current plan and a credible interval of the lift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def interval(draws: np.ndarray, width: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of ``width`` (0.9: 5th and 95th percentiles) along ``axis``."""
    tail = (1.0 - width) / 2.0
    return np.quantile(draws, tail, axis=axis), np.quantile(draws, 1.0 - tail, axis=axis)


def compare_plans(current: np.ndarray, recommended: np.ndarray, width: float) -> dict[str, float]:
    """Paired comparison of total incremental revenue under two plans.

    Args:
        current: incremental revenue per posterior draw under the current plan, shape (draws,) or (draws, channels).
        recommended: the same draws under the recommended plan.
        width: credible interval width.

    Returns:
        Means and intervals of both totals and of the lift, the relative lift, and the probability (share of draws)
        that the recommended plan yields more incremental revenue than the current one.
    """
    cur = np.asarray(current, dtype=float)
    rec = np.asarray(recommended, dtype=float)
    cur = cur.sum(axis=1) if cur.ndim == 2 else cur
    rec = rec.sum(axis=1) if rec.ndim == 2 else rec
    lift = rec - cur
    out: dict[str, float] = {"n_draws": int(lift.size), "interval": width}
    for name, values in (("current", cur), ("recommended", rec), ("lift", lift)):
        lo, hi = interval(values, width)
        out[f"{name}_mean"], out[f"{name}_lo"], out[f"{name}_hi"] = float(values.mean()), float(lo), float(hi)
    out["lift_pct"] = float(lift.mean() / cur.mean() * 100.0) if cur.mean() else float("nan")
    out["prob_beats_current"] = float(np.mean(lift > 0))
    return out


def compare_means(current: np.ndarray, recommended: np.ndarray) -> dict[str, float | None]:
    """The posterior-mean comparison of two plans when the risk analysis is off (``optimization.sensitivity.
    enabled=false``): the same keys as :func:`compare_plans`, with no draw compared, so every interval and the
    probability of beating the current plan are None rather than figures computed from draws nobody asked for.

    Args:
        current: posterior-mean incremental revenue per channel under the current plan (or its total).
        recommended: the same under the recommended plan.
    """
    cur = float(np.sum(np.asarray(current, dtype=float)))
    rec = float(np.sum(np.asarray(recommended, dtype=float)))
    out: dict[str, float | None] = {"n_draws": 0, "interval": None}
    for name, value in (("current", cur), ("recommended", rec), ("lift", rec - cur)):
        out[f"{name}_mean"], out[f"{name}_lo"], out[f"{name}_hi"] = value, None, None
    out["lift_pct"] = (rec - cur) / cur * 100.0 if cur else float("nan")
    out["prob_beats_current"] = None
    return out


def extrapolation(weekly_spend: pd.DataFrame, current: Mapping[str, float],
                  recommended: Mapping[str, float]) -> pd.DataFrame:
    """Flag plans whose typical week lies outside the weekly spend the data has seen.

    Meridian (and the simulator's truth) scale every historical week of a channel by ``recommended / current``. A
    plan extrapolates when its mean live week (``scale x`` the historical mean of weeks with spend) is above the
    largest observed week, or below the smallest observed live week: the response curve there is not backed by
    data.

    Args:
        weekly_spend: one column per channel, one row per week (summed over geos).
        current: total spend per channel over the period now.
        recommended: total spend per channel over the period in the plan.

    Returns:
        Per channel: scale, observed min / mean / max of live weekly spend, the plan's mean live week, and
        ``extrapolation`` ("", "above observed range" or "below observed range").
    """
    rows = []
    for channel in weekly_spend.columns:
        weeks = weekly_spend[channel].to_numpy(dtype=float)
        live = weeks[weeks > 0]
        scale = float(recommended[channel] / current[channel]) if current[channel] > 0 else 0.0
        if live.size == 0:
            rows.append({"channel": channel, "scale": scale, "observed_min_week": 0.0, "observed_mean_week": 0.0,
                         "observed_max_week": 0.0, "planned_mean_week": 0.0, "extrapolation": ""})
            continue
        planned = scale * float(live.mean())
        flag = ""
        if planned > live.max() * (1 + 1e-9):
            flag = "above observed range"
        elif 0 < planned < live.min() * (1 - 1e-9):
            flag = "below observed range"
        rows.append({"channel": channel, "scale": scale, "observed_min_week": float(live.min()),
                     "observed_mean_week": float(live.mean()), "observed_max_week": float(live.max()),
                     "planned_mean_week": planned, "extrapolation": flag})
    return pd.DataFrame(rows)


def business_notes(configured: Sequence[str], flagged: pd.DataFrame, centre_is_historical: bool) -> list[str]:
    """The configured business caveats (creative fatigue, audience overlap ...) plus notes the run itself raises."""
    notes = list(configured)
    for row in flagged.itertuples():
        if row.extrapolation:
            notes.append(f"{row.channel}: the recommended spend puts a typical week at {row.planned_mean_week:,.0f}, "
                         f"{row.extrapolation} ({row.observed_min_week:,.0f} to {row.observed_max_week:,.0f}); the "
                         "response there is extrapolated: test the change gradually")
    if not centre_is_historical:
        notes.append("the historical mix breaks the platform constraints; Meridian's 'non-optimized' reference in "
                     "its HTML page is the closest mix inside them, while allocation.csv compares with the "
                     "historical mix")
    return notes
