"""Budget allocation on the PyMC engine: plan evaluation on posterior draws, PyMC-Marketing's ``BudgetOptimizer``, and
response curves.

A spend plan is evaluated as Meridian's optimiser does: each channel's historical media (every geo and week) is
scaled by ``planned / historical`` spend, so flighting, geo split and cost per media unit stay as observed; its
incremental revenue is the in-sample media contribution over the period (:class:`~.model.Posterior`).

The optimizer is PyMC-Marketing's ``BudgetOptimizer`` (SLSQP on the posterior-mean response, gradients by
PyTensor) through its ``MultiDimensionalBudgetOptimizerWrapper`` over the data's own weeks, so the budget is spend
over the same period as the historical spend. It allocates per (geo, channel) cell and period; to plan per channel
as above it is given:

- ``budget_distribution_over_period``: each cell's historical weekly spend pattern;
- ``cost_per_unit``: each (week, geo, channel)'s historical spend / media (the channel's average where a week has
  no media or no spend), so the media it feeds the model is ``planned / historical x historical media``;
- per-cell bounds ``share x [low, high]`` of the channel's bounds, ``share`` being the cell's historical share of the
  channel's spend, and linear equality constraints holding every channel's geo split at those shares (geo models);
- its default constraint that the cells sum to the budget.

PyMC-Marketing spreads a cell's per-period budget over ``num_periods`` weeks, so budget and bounds are passed per
week (total / weeks) and the result multiplied back. Its response counts the carryover of the last weeks beyond the
data (it appends ``l_max`` weeks without spend), the plan evaluator does not; the recommendation's ``mean_outcome`` is
the evaluator's, so it is comparable with every other plan of the stage.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.errors import ConfigError, UserError
from mmm_meridian.models.base import CURVE_COLUMNS, Recommendation
from mmm_meridian.models.pymc.answers import historical_spend
from mmm_meridian.models.pymc.build import GEO
from mmm_meridian.models.pymc.model import PymcModel

log = logging.getLogger(__name__)

# SLSQP stops when the objective (posterior-mean incremental revenue) changes by less than this fraction of the
# historical plan's incremental revenue. It must be tiny: SLSQP's first steps are about one currency unit per cell
# (its starting Hessian is the identity, the gradient a marginal ROI), so on a brand spending millions a week a
# millionth (the earlier setting) stopped it after one iteration at the current mix (the real Conjura brand: a plan
# 455M better, found in 29 iterations at this setting, was reported as "keep the current mix").
FTOL_FRACTION = 1e-12
# Bounds and budget hold to a millionth of the budget (SLSQP respects bounds exactly and equality constraints to
# about its tolerance; the measured violation is reported when it is larger).
STEP_FRACTION = 1e-6
MAX_ITERATIONS = 500
CURVE_STEP_UP_TO_2X = 0.02
CURVE_POINTS_BEYOND_2X = 40
CURVE_PADDING = 0.5  # Meridian's SPEND_CONSTRAINT_PADDING: curves run a little past the largest upper bound


def _no_frequency(frequency: np.ndarray | None) -> None:
    if frequency is not None:
        raise ValueError("the PyMC engine has no reach-and-frequency channels: a plan's frequency must be None")


class PlanEvaluator:
    """Incremental revenue of any spend plan on a fixed subset of posterior draws (paired across plans).

    Args:
        model: the fitted model.
        max_draws: at most this many posterior draws, evenly spaced (0 or more than exist: all of them).
        risk: False when the risk analysis is off: :meth:`outcome_draws` refuses, :meth:`outcome_mean` works.
    """

    def __init__(self, model: PymcModel, max_draws: int = 0, *, risk: bool = True) -> None:
        self.posterior = model.posterior()
        self.historical = historical_spend(model)
        self.risk = risk
        n_total = self.posterior.n_samples
        n = n_total if max_draws <= 0 or max_draws >= n_total else max_draws
        self.draws = np.unique(np.linspace(0, n_total - 1, n).round().astype(int)) if risk else np.array([], int)

    def _ratio(self, plan: np.ndarray) -> np.ndarray:
        plan = np.asarray(plan, dtype=np.float64)
        return np.divide(plan, self.historical, out=np.zeros_like(plan), where=self.historical > 0)

    def outcome_draws(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """(draw, channel) incremental revenue of ``plan`` on the kept draws (``frequency``: always None here, the
        PyMC engine has no reach-and-frequency channels).

        Raises:
            RuntimeError: the risk analysis is off.
        """
        _no_frequency(frequency)
        if not self.risk:
            raise RuntimeError("the risk analysis is off (optimization.sensitivity.enabled=false): no draws to "
                               "compare")
        return self.posterior.contribution(self._ratio(plan), draws=self.draws)

    def outcome_mean(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """Posterior-mean incremental revenue per channel of ``plan`` (every draw)."""
        _no_frequency(frequency)
        return self.posterior.contribution(self._ratio(plan)).mean(axis=0)


@dataclass
class NativeResult:
    """What the optimizer run leaves: channel bounds, interval (for the response curves), the (geo, channel) cells'
    allocation and SLSQP's iterations and message."""

    low: np.ndarray
    high: np.ndarray
    historical: np.ndarray
    interval: float
    cells: np.ndarray
    iterations: int
    message: str


def _weekly_cells(model: PymcModel) -> tuple[Any, Any, np.ndarray]:
    """(budget distribution over weeks, cost per unit) as PyMC-Marketing wants them, and the cells' spend."""
    import xarray as xr

    record = model.record
    post = model.posterior()
    spend, media = record.spend, post.media  # (week, geo, channel)
    cells = spend.sum(axis=0)  # (geo, channel)
    n_t = spend.shape[0]
    share = np.divide(spend, cells[None], out=np.full_like(spend, 1.0 / n_t), where=cells[None] > 0)
    average = np.divide(spend.sum(axis=(0, 1)), media.sum(axis=(0, 1)))  # channel's average cost per unit
    ok = (spend > 0) & (media > 0)
    cost = np.where(ok, np.divide(spend, np.where(ok, media, 1.0)), average[None, None, :])
    dims = ("date", GEO, "channel") if record.geo_model else ("date", "channel")
    coords: dict[str, Any] = {"date": np.arange(n_t), "channel": record.channels}
    if record.geo_model:
        coords[GEO] = record.geos
    else:
        share, cost = share[:, 0, :], cost[:, 0, :]
    return xr.DataArray(share, dims=dims, coords=coords), xr.DataArray(cost, dims=dims, coords=coords), cells


def _geo_split(cells: np.ndarray, active: np.ndarray) -> np.ndarray | None:
    """Rows A with A @ x = 0 holding each channel's geo split at its historical shares (x: active cells, geo-major)."""
    n_g, n_c = cells.shape
    if n_g < 2:
        return None
    share = np.divide(cells, cells.sum(axis=0, keepdims=True), out=np.zeros_like(cells),
                      where=cells.sum(axis=0, keepdims=True) > 0)
    rows = []
    for c in range(n_c):
        geos = [g for g in range(n_g) if active[g, c]]
        for g in geos[:-1]:  # the last geo's share follows from the others and the channel total
            row = np.zeros((n_g, n_c))
            row[geos, c] = -share[g, c]
            row[g, c] += 1.0
            rows.append(row[active])
    return np.asarray(rows) if rows else None


def _optimizer(model: PymcModel, distribution: Any, cost: Any, to_optimize: Any, cells: np.ndarray,
               active: np.ndarray) -> Any:
    """PyMC-Marketing's ``BudgetOptimizer`` over the data's weeks (compiles the objective and its gradient)."""
    from pymc_marketing.mmm.budget_optimizer import BudgetOptimizer
    from pymc_marketing.mmm.multidimensional import MultiDimensionalBudgetOptimizerWrapper

    record = model.record
    n_t = len(record.times)
    wrapper = MultiDimensionalBudgetOptimizerWrapper(model=model.mmm, start_date=record.times[0],
                                                     end_date=record.times[-1])
    if wrapper.num_periods != n_t:
        raise UserError(f"PyMC-Marketing's optimizer sees {wrapper.num_periods} weeks, the model {n_t}",
                        where="optimize", fix="the model's weeks must be evenly spaced")
    optimizer = BudgetOptimizer(num_periods=n_t, model=wrapper,
                                response_variable="total_media_contribution_original_scale",
                                budgets_to_optimize=to_optimize, budget_distribution_over_period=distribution,
                                cost_per_unit=cost)
    split = _geo_split(cells, active)
    if split is not None:
        # Linear constraints in numpy next to PyMC-Marketing's compiled ones: its Constraint compiles a scalar
        # gradient per constraint, which for tens of geos would be hundreds of compilations.
        optimizer._compiled_constraints.append({"type": "eq", "fun": lambda x: split @ x,  # noqa: SLF001
                                                "jac": lambda x: split})
    return optimizer


def optimize(model: PymcModel, *, pct_of_spend: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             budget: float | None, fixed_budget: bool, target_mroi: float | None, gtol: float, interval: float,
             grid: Any = None) -> Recommendation:
    """PyMC-Marketing's budget optimizer under per-channel bounds ``centre x [1 - lower, 1 + upper]`` with
    ``centre = budget x pct_of_spend`` (see the module docstring); fixed budgets only.

    Raises:
        ConfigError: a flexible budget (``fixed_budget=False``), or bounds that cannot hold the budget.
    """
    if not fixed_budget:
        raise ConfigError("optimization.objective=profit (a flexible budget) needs model.backend=meridian",
                          where="config keys model.backend, optimization.objective",
                          fix="use optimization.objective=revenue (a fixed budget) with the PyMC engine, or set "
                              "model.backend=meridian")
    import xarray as xr

    record = model.record
    historical = historical_spend(model)
    total = float(historical.sum() if budget is None else budget)
    centre = total * np.asarray(pct_of_spend, dtype=np.float64)
    low = np.maximum(centre * (1.0 - np.asarray(lower, dtype=np.float64)), 0.0)
    high = centre * (1.0 + np.asarray(upper, dtype=np.float64))
    if low.sum() > total * (1 + 1e-9) or high.sum() < total * (1 - 1e-9):
        raise ConfigError(f"the channel bounds (total {low.sum():,.0f} to {high.sum():,.0f}) cannot hold the budget "
                          f"{total:,.0f}", where="config key optimization.platform_constraints",
                          fix="widen the channels' min/max shares or change optimization.budget")
    distribution, cost, cells = _weekly_cells(model)  # cells: (geo, channel) historical spend
    active = cells > 0
    share = np.divide(cells, historical[None, :], out=np.zeros_like(cells), where=historical[None, :] > 0)
    n_t = len(record.times)
    # Per-week cell bounds and starting plan (PyMC-Marketing multiplies a cell's budget by the number of weeks).
    cell_low, cell_high = share * low[None, :] / n_t, share * high[None, :] / n_t
    start = np.clip(share * centre[None, :] / n_t, cell_low, cell_high)[active]
    keep = slice(None) if record.geo_model else 0  # a national model's budgets have no geo dim
    mask_dims = (GEO, "channel") if record.geo_model else ("channel",)
    coords: dict[str, Any] = {"channel": record.channels, **({GEO: record.geos} if record.geo_model else {})}
    bounds = xr.DataArray(np.stack([cell_low, cell_high], axis=-1)[keep], dims=(*mask_dims, "bound"),
                          coords={**coords, "bound": ["lower", "upper"]})
    to_optimize = xr.DataArray(active[keep], dims=mask_dims, coords=coords)
    evaluator = PlanEvaluator(model, 0, risk=False)
    reference = float(evaluator.outcome_mean(historical / historical.sum() * total).sum())
    ftol = max(abs(reference), 1.0) * FTOL_FRACTION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyMC-Marketing's notes on the default constraint and frequency inference
        optimizer = model.optimizer or _optimizer(model, distribution, cost, to_optimize, cells, active)
        model.optimizer = optimizer
        allocation, result = optimizer.allocate_budget(
            total / n_t, budget_bounds=bounds, x0=start, return_if_fail=True,
            minimize_kwargs={"options": {"ftol": ftol, "maxiter": MAX_ITERATIONS}})
    values = np.asarray(allocation.transpose(*mask_dims).values, dtype=np.float64) * n_t
    values = values if record.geo_model else values[None, :]  # (geo, channel) spend over the period
    spend = values.sum(axis=0)
    if not result.success:
        log.warning("optimize: PyMC-Marketing's optimizer stopped without converging (%s); its last plan is used",
                    result.message)
    violation = max(float(np.max(np.maximum(low - spend, 0.0))), float(np.max(np.maximum(spend - high, 0.0))),
                    abs(float(spend.sum()) - total))
    step = max(STEP_FRACTION * total, violation)
    mean = evaluator.outcome_mean(spend)
    return Recommendation(spend=spend, budget=float(spend.sum()), step=step, mean_outcome=mean,
                          native=NativeResult(low, high, historical, interval, values, int(result.nit),
                                                str(result.message)))


def curve_multipliers(upper_limit: float) -> np.ndarray:
    """Spend multipliers 0..2 in steps of 0.02, then geometrically spaced up to ``upper_limit`` (as Meridian's
    engine in this pipeline bounds its curves)."""
    near = np.round(np.arange(0.0, 2.0 + 1e-9, CURVE_STEP_UP_TO_2X), 10)
    if upper_limit <= 2.0:
        return near
    return np.concatenate([near, np.geomspace(2.0, upper_limit, CURVE_POINTS_BEYOND_2X + 1)[1:]])


def curves(model: PymcModel, multipliers: np.ndarray, interval: float = 0.9) -> pd.DataFrame:
    """:data:`~mmm_meridian.models.base.CURVE_COLUMNS`: incremental revenue at multiples of each channel's
    historical spend (all channels scaled together: a channel's revenue depends on its own media only)."""
    post = model.posterior()
    historical = historical_spend(model)
    tail = (1.0 - interval) / 2.0
    rows = []
    for m in multipliers:
        draws = post.contribution(np.full(len(historical), float(m)))
        rows.append(pd.DataFrame({
            "channel": model.record.channels, "spend_multiplier": float(m), "spend": historical * float(m),
            "incremental_revenue_mean": draws.mean(axis=0),
            "incremental_revenue_lo": np.quantile(draws, tail, axis=0),
            "incremental_revenue_hi": np.quantile(draws, 1.0 - tail, axis=0)}))
    frame = pd.concat(rows, ignore_index=True)
    order = {ch: i for i, ch in enumerate(model.record.channels)}  # the model's channel order, then spend
    frame = frame.sort_values(["channel", "spend_multiplier"], key=lambda c: c.map(order) if c.name == "channel"
                              else c, kind="stable")
    return frame.reset_index(drop=True)[list(CURVE_COLUMNS)]


def response_curves(model: PymcModel, recommendation: Recommendation) -> pd.DataFrame:
    """Curves over multipliers 0..max(2, the largest upper bound / historical spend + padding)."""
    native = recommendation.native
    if isinstance(native, NativeResult):
        ratio = np.divide(native.high, native.historical, out=np.zeros_like(native.high),
                          where=native.historical > 0)
        upper, interval = float(ratio.max()) + CURVE_PADDING, native.interval
    else:
        upper, interval = 2.0, 0.9
    return curves(model, curve_multipliers(max(2.0, upper)), interval)


def marginal_roi(model: PymcModel, increase: float = 0.01) -> np.ndarray:
    """(draw, channel) extra revenue per extra unit of spend when every channel spends ``increase`` more."""
    post = model.posterior()
    historical = historical_spend(model)
    base = post.contribution()
    more = post.contribution(np.full(len(historical), 1.0 + increase))
    return (more - base) / (historical[None, :] * increase)
