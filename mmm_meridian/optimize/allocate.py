"""One optimised plan end to end: constraints -> the engine's optimiser -> paired posterior comparison -> guardrails.

Used for the main recommendation and for every scenario preset. The reference ("current") plan is the historical
channel mix scaled to the plan's budget, so a budget scenario is compared with spending its budget the way the
business spends today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.models.base import Engine, PlanEvaluator, Recommendation
from mmm_meridian.optimize.constraints import MeridianConstraints, ShareBounds, spend_limits, to_meridian, violations
from mmm_meridian.optimize.risk import compare_means, compare_plans, extrapolation, interval


@dataclass(frozen=True)
class PlanRequest:
    """What to optimise: a budget (fixed) or a marginal-ROI target (flexible), under share bounds."""

    name: str
    bounds: ShareBounds
    budget: float  # fixed: the total to allocate; flexible: the reference total the share bounds refer to
    fixed_budget: bool = True
    target_mroi: float | None = None  # Meridian's target marginal ROI (flexible budget only)


@dataclass
class PlanResult:
    request: PlanRequest
    constraints: MeridianConstraints
    recommendation: Recommendation
    allocation: pd.DataFrame
    comparison: dict[str, float]
    guardrails: pd.DataFrame
    violations: dict[str, float]
    tolerance: float
    constraints_satisfied: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recommended(self) -> dict[str, float]:
        return dict(zip(self.allocation["channel"], self.allocation["recommended_spend"], strict=True))


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=np.broadcast_to(denominator, out.shape) > 0)
    return out


def allocation_table(channels: list[str], current: np.ndarray, recommended: np.ndarray, cur_draws: np.ndarray,
                     rec_draws: np.ndarray, low: np.ndarray, high: np.ndarray, width: float | None) -> pd.DataFrame:
    """Per channel: spends, change, shares, bounds, ROI and incremental revenue (posterior mean and interval).

    ``width`` None means the risk analysis is off: ``cur_draws`` / ``rec_draws`` then hold one row, the posterior
    means, and the table has no interval columns.
    """
    table = pd.DataFrame({
        "channel": channels, "current_spend": current, "recommended_spend": recommended,
        "change_pct": _safe_ratio(recommended - current, current) * 100.0,
        "current_share": current / current.sum(), "recommended_share": recommended / max(recommended.sum(), 1e-12),
        "min_spend": low, "max_spend": high,
        "current_roi": _safe_ratio(cur_draws.mean(axis=0), current),
        "expected_roi": _safe_ratio(rec_draws.mean(axis=0), recommended),
        "current_incremental_revenue": cur_draws.mean(axis=0),
        "expected_incremental_revenue": rec_draws.mean(axis=0),
    })
    if width is None:
        return table
    rec_lo, rec_hi = interval(rec_draws, width)
    roi_draws = _safe_ratio(rec_draws, recommended[None, :])
    roi_lo, roi_hi = (interval(roi_draws, width) if np.isfinite(roi_draws).all()
                      else (np.full(len(channels), np.nan),) * 2)
    table.insert(table.columns.get_loc("expected_roi") + 1, "expected_roi_lo", roi_lo)
    table.insert(table.columns.get_loc("expected_roi_lo") + 1, "expected_roi_hi", roi_hi)
    table["expected_incremental_revenue_lo"] = rec_lo
    table["expected_incremental_revenue_hi"] = rec_hi
    return table


def optimise_plan(engine: Engine, mmm: Any, evaluator: PlanEvaluator, request: PlanRequest, *, gtol: float, width: float,
                  weekly: pd.DataFrame, margin: float = 1.0, grid: Any = None) -> PlanResult:
    """Optimise one plan with the engine's optimizer and measure it against the historical mix on the same posterior draws.

    With the evaluator's risk analysis off (``optimization.sensitivity.enabled=false``) the plans are compared by
    their posterior means only: no draw-by-draw comparison, no intervals, no probability of beating the current mix.
    """
    channels = list(request.bounds.channels)
    historical = evaluator.historical
    constraints = to_meridian(request.bounds, historical)
    recommendation = engine.optimize(
        mmm, pct_of_spend=constraints.pct_of_spend, lower=constraints.spend_constraint_lower,
        upper=constraints.spend_constraint_upper, budget=request.budget if request.fixed_budget else None,
        fixed_budget=request.fixed_budget, target_mroi=request.target_mroi, gtol=gtol, interval=width,
        grid=grid if request.fixed_budget else None)
    current = historical / historical.sum() * request.budget
    low, high = spend_limits(request.bounds, request.budget)
    if evaluator.risk:
        cur_draws = evaluator.outcome_draws(current)
        # the recommended plan as the optimizer planned it (R&F channels at its frequency), today's as it ran
        rec_draws = evaluator.outcome_draws(recommendation.spend, recommendation.frequency)
        allocation = allocation_table(channels, current, recommendation.spend, cur_draws, rec_draws, low, high, width)
        comparison: dict[str, Any] = compare_plans(cur_draws, rec_draws, width)
    else:  # risk analysis off: posterior means only, the engine's own for the recommended plan
        cur_mean = evaluator.outcome_mean(current)
        rec_mean = recommendation.mean_outcome
        allocation = allocation_table(channels, current, recommendation.spend, cur_mean[None, :], rec_mean[None, :],
                                      low, high, None)
        comparison = compare_means(cur_mean, rec_mean)
    comparison["current_spend"] = float(current.sum())
    comparison["recommended_spend"] = float(recommendation.spend.sum())
    comparison["current_profit"] = margin * comparison["current_mean"] - comparison["current_spend"]
    comparison["recommended_profit"] = margin * comparison["recommended_mean"] - comparison["recommended_spend"]
    plan = dict(zip(channels, recommendation.spend, strict=True))
    off = violations(plan, request.bounds, request.budget)
    # Meridian rounds bounds and budget to its grid: a plan is within bounds up to one grid step.
    tolerance = max(recommendation.step, gtol * request.budget) * 1.001
    satisfied = max(off.values()) <= tolerance
    if request.fixed_budget:
        # Meridian's total is the sum of the channels' rounded centre spends: up to half a step off per channel.
        off_budget = abs(float(recommendation.spend.sum()) - request.budget)
        satisfied = satisfied and off_budget <= tolerance * max(len(channels), 2)
        comparison["budget_gap"] = off_budget
    guardrails = extrapolation(weekly, dict(zip(channels, historical, strict=True)), plan) if not weekly.empty else pd.DataFrame()
    if not guardrails.empty:
        allocation = allocation.merge(guardrails[["channel", "scale", "extrapolation"]], on="channel", how="left")
    return PlanResult(request, constraints, recommendation, allocation, comparison, guardrails, off, tolerance,
                      bool(satisfied))
