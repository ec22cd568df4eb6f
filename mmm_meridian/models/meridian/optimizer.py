"""Budget allocation on the Meridian engine: ``BudgetOptimizer`` runs, plan evaluation on posterior draws, HTML page.

Every plan is evaluated the way Meridian's optimiser does: each channel's historical media (every geo and week) is
scaled by ``planned spend / historical spend``, so the flighting pattern and the cost per media unit stay as observed.
A reach-and-frequency channel's reach is scaled at fixed frequency (Meridian's ``by_reach``): more spend reaches more
people as often as before. Meridian's optimiser itself runs R&F channels at their optimal frequency
(``use_optimal_frequency``, its default).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.models.base import Recommendation
from mmm_meridian.models.meridian import adapter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from meridian import constants as meridian_constants
    from meridian.analysis import optimizer as meridian_optimizer
    from meridian.analysis import tensors as meridian_tensors

log = logging.getLogger(__name__)


def historical_spend(mmm: Any) -> np.ndarray:
    """Total spend per paid channel (media, then R&F) over the whole modelled period (all geos)."""
    return adapter.historical_spend(mmm)


def weekly_spend(mmm: Any) -> pd.DataFrame:
    """Spend per week (rows, summed over geos) and paid channel (columns)."""
    spend = adapter.paid_spend(mmm)
    if spend.ndim != 3:  # spend given per channel only: no weekly pattern to compare with
        return pd.DataFrame(columns=adapter.channel_names(mmm))
    times = [str(t) for t in mmm.input_data.time.values]
    return pd.DataFrame(spend.sum(axis=0), index=times, columns=adapter.channel_names(mmm))


class PaidMedia:
    """A model's paid media execution, scaled channel by channel into Meridian ``DataTensors`` for a spend plan.

    Media channels scale their media; reach-and-frequency channels scale their reach at their historical frequency
    (or, given a frequency per R&F channel, keep their impressions and run at that frequency, as Meridian's optimiser
    does at the optimal frequency).
    """

    def __init__(self, mmm: Any) -> None:
        data = mmm.input_data
        self.media = None if data.media is None else np.asarray(data.media, dtype=np.float64)  # (geo, time, m)
        self.reach = None if data.reach is None else np.asarray(data.reach, dtype=np.float64)  # (geo, time, rf)
        self.frequency = None if data.frequency is None else np.asarray(data.frequency, dtype=np.float64)
        self.n_media = 0 if self.media is None else self.media.shape[-1]

    def tensors(self, ratio: np.ndarray, frequency: np.ndarray | None = None) -> Any:
        """``DataTensors`` with each channel's execution times ``ratio`` (paid channel order).

        Args:
            ratio: planned / historical spend per paid channel.
            frequency: None: R&F channels keep their historical frequency; else one frequency per R&F channel, held
                constant over geos and weeks, with reach = scaled impressions / frequency.
        """
        ratio = np.asarray(ratio, dtype=np.float64)
        parts: dict[str, np.ndarray] = {}
        if self.media is not None:
            parts["media"] = self.media * ratio[None, None, : self.n_media]
        if self.reach is not None:
            rf_ratio = ratio[None, None, self.n_media:]
            if frequency is None:
                parts["reach"], parts["frequency"] = self.reach * rf_ratio, self.frequency
            else:
                target = np.broadcast_to(np.asarray(frequency, dtype=np.float64)[None, None, :], self.reach.shape)
                parts["reach"] = self.reach * self.frequency * rf_ratio / target
                parts["frequency"] = np.array(target)
        return meridian_tensors.DataTensors(**parts)  # DataTensors casts to the backend's float type


@dataclass
class NativeResult:
    """Meridian's ``OptimizationResults`` of a run, with its bounded response curves once computed (they feed both
    the HTML page and response_curves.csv, and cost a pass over every posterior draw)."""

    results: Any
    curves: Any = None

    def bounded_curves(self) -> Any:
        if self.curves is None:
            self.curves = bounded_response_curves(self.results)
        return self.curves


def shared_grid(mmm: Any, historical: np.ndarray, highest: np.ndarray, budget: float, gtol: float) -> Any:
    """One Meridian optimisation grid covering every fixed-budget plan of the stage.

    Building the grid (incremental revenue of each channel at every spend step, on every posterior draw) is the
    expensive part of an optimisation; Meridian reuses a grid whose bounds contain a request's bounds. This grid
    spans [0, ``highest``] per channel, ``highest`` being the largest spend any scenario may give the channel, plus
    two spend steps: Meridian rounds a request's spend before scaling it to its bounds, which can put a scenario's
    upper bound a step above the same bound computed at the grid's budget, and then it builds a second grid (the
    demo's "aggressive" scenario did: 15 s).
    """
    shares = historical / historical.sum()
    centre = budget * shares
    step = 10.0 ** -meridian_optimizer.get_round_factor(float(budget), gtol)
    upper = np.divide(highest + 2 * step, centre, out=np.ones_like(centre), where=centre > 0) - 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meridian_optimizer.BudgetOptimizer(mmm).create_optimization_grid(
            budget=float(budget), pct_of_spend=[float(x) for x in shares], spend_constraint_lower=1.0,
            spend_constraint_upper=[float(max(u, 0.0)) for u in upper], gtol=gtol, use_optimal_frequency=True)


def optimize(mmm: Any, *, pct_of_spend: np.ndarray, lower: np.ndarray, upper: np.ndarray, budget: float | None,
             fixed_budget: bool, target_mroi: float | None = None, gtol: float = 1e-4, interval: float = 0.9,
             grid: Any = None) -> Recommendation:
    """Run Meridian's optimiser with the translated constraints.

    Args:
        mmm: the fitted model.
        pct_of_spend, lower, upper: Meridian's ``pct_of_spend``, ``spend_constraint_lower`` / ``_upper`` (see
            :func:`mmm_meridian.optimize.constraints.to_meridian`).
        budget: total budget for a fixed-budget run (None: the historical total).
        fixed_budget: True maximises incremental revenue at ``budget``; False spends while the marginal ROI stays
            above ``target_mroi`` (Meridian's flexible budget).
        target_mroi: flexible budget only.
        gtol: Meridian's grid tolerance.
        interval: confidence level of the intervals Meridian reports.
        grid: a grid from :func:`shared_grid`; Meridian builds its own when the request's bounds fall outside it.

    Reach-and-frequency channels run at Meridian's optimal frequency (``use_optimal_frequency``, Meridian's default,
    stated here so that a grid and a run always agree): the recommendation's ``frequency``.
    """
    optimizer = meridian_optimizer.BudgetOptimizer(mmm)
    kwargs: dict[str, Any] = {"budget": budget} if fixed_budget else {"target_mroi": float(target_mroi or 1.0)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Meridian warns about unmet mROI targets and deprecations; we report both
        results = optimizer.optimize(
            fixed_budget=fixed_budget, pct_of_spend=[float(x) for x in pct_of_spend],
            spend_constraint_lower=[float(x) for x in lower], spend_constraint_upper=[float(x) for x in upper],
            gtol=gtol, confidence_level=interval, optimization_grid=grid, use_optimal_frequency=True, **kwargs)
    spend = np.asarray(results.optimized_data["spend"], dtype=np.float64)
    total = float(results.optimized_data.attrs.get("budget", spend.sum()))
    mean = np.asarray(results.optimized_data["incremental_outcome"].sel(metric="mean"), dtype=np.float64)
    optimal = results.optimization_grid.optimal_frequency
    return Recommendation(spend, total, float(results.optimization_grid.spend_step_size), mean,
                          NativeResult(results),
                          frequency=None if optimal is None else np.asarray(optimal, dtype=np.float64))


class PlanEvaluator:
    """Incremental revenue of any spend plan on a fixed subset of posterior draws (paired across plans).

    Args:
        mmm: the fitted model.
        max_draws: at most this many posterior draws, evenly spaced (0 or more than exist: all of them); the paired
            risk analysis compares plans draw by draw on them.
        risk: False when the risk analysis is off (``optimization.sensitivity.enabled=false``): no draw subset is
            kept, :meth:`outcome_draws` refuses, and plans are measured by their posterior mean only
            (:meth:`outcome_mean`).
    """

    def __init__(self, mmm: Any, max_draws: int = 0, *, risk: bool = True) -> None:
        self.analyzer = adapter.analyzer(mmm)
        self.paid = PaidMedia(mmm)
        self.historical = historical_spend(mmm)
        self.risk = risk
        posterior = mmm.inference_data.posterior
        n_total = int(posterior.sizes["chain"] * posterior.sizes["draw"])
        n = n_total if max_draws <= 0 or max_draws >= n_total else max_draws
        self.draws = np.unique(np.linspace(0, n_total - 1, n).round().astype(int)) if risk else np.array([], int)

    def _incremental(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """Incremental revenue per (posterior draw, channel) when each channel spends ``plan`` (every draw)."""
        plan = np.asarray(plan, dtype=np.float64)
        ratio = np.divide(plan, self.historical, out=np.zeros_like(plan), where=self.historical > 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            draws = self.analyzer.incremental_outcome(
                use_posterior=True, new_data=self.paid.tensors(ratio, frequency), include_non_paid_channels=False)
        draws = np.asarray(draws, dtype=np.float64)
        return draws.reshape(-1, draws.shape[-1])

    def outcome_draws(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """Incremental revenue per (draw, channel) over the whole period when each channel spends ``plan``.

        ``frequency``: None keeps each R&F channel's historical frequency; one value per R&F channel runs them at it
        (e.g. the optimiser's optimal frequency), impressions unchanged.

        Raises:
            RuntimeError: the risk analysis is off (a bug in the caller: nothing may be compared draw by draw).
        """
        if not self.risk:
            raise RuntimeError("the risk analysis is off (optimization.sensitivity.enabled=false): no draws to "
                               "compare")
        return self._incremental(plan, frequency)[self.draws]

    def outcome_mean(self, plan: np.ndarray, frequency: np.ndarray | None = None) -> np.ndarray:
        """Posterior-mean incremental revenue per channel when each channel spends ``plan`` (as Meridian reports);
        ``frequency`` as in :meth:`outcome_draws`."""
        return self._incremental(plan, frequency).mean(axis=0)


# Response curves: Meridian's OptimizationResults.get_response_curves evaluates every multiple of a channel's spend
# from 0 to the largest upper bound + 0.5 in steps of 0.01, on every posterior draw. Bounds that let a tiny channel
# grow 800x (the real Conjura brand under 5 % minimum shares) made that 80,000 multipliers and the stage run for
# over 20 minutes. The curves here use a bounded set: 0 to 2x in steps of 0.02 (where plans usually land), then
# CURVE_POINTS_BEYOND_2X points spaced geometrically up to the same upper limit Meridian would use.
CURVE_STEP_UP_TO_2X = 0.02
CURVE_POINTS_BEYOND_2X = 40


def curve_multipliers(upper_limit: float) -> np.ndarray:
    """At most 101 + CURVE_POINTS_BEYOND_2X spend multipliers covering [0, ``upper_limit``]."""
    near = np.round(np.arange(0.0, 2.0 + 1e-9, CURVE_STEP_UP_TO_2X), 10)
    if upper_limit <= 2.0:
        return near[near <= upper_limit + 1e-9]
    far = np.geomspace(2.0, upper_limit, CURVE_POINTS_BEYOND_2X + 1)[1:]
    return np.concatenate([near, far])


def bounded_response_curves(results: Any) -> Any:
    """Meridian's ``OptimizationResults.get_response_curves`` with :func:`curve_multipliers` (same arguments else)."""
    channels = results.optimized_data.channel.values
    selected_times = meridian_optimizer._expand_selected_times(  # noqa: SLF001 - same call as Meridian's method
        model_context=results.analyzer.model_context, start_date=results.optimized_data.start_date,
        end_date=results.optimized_data.end_date, new_data=results.new_data)
    _, upper = results.spend_bounds
    upper = (upper.repeat(len(channels)) if len(upper) == 1 else upper) * results.spend_ratio
    upper_limit = max(float(np.max(upper)) + meridian_constants.SPEND_CONSTRAINT_PADDING, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return results.analyzer.response_curves(
            new_data=results.new_data, spend_multipliers=[float(x) for x in curve_multipliers(upper_limit)],
            use_posterior=results.optimization_grid.use_posterior,
            selected_geos=results.optimization_grid.selected_geos, selected_times=selected_times, by_reach=True,
            use_kpi=not results.nonoptimized_data.attrs[meridian_constants.IS_REVENUE_KPI],
            use_optimal_frequency=results.optimization_grid.use_optimal_frequency)


def write_html(recommendation: Recommendation, directory: Path, filename: str) -> bool:
    """Meridian's optimisation summary page with the bounded response curves (:func:`bounded_response_curves`);
    False (and a log line) when it cannot render here."""
    native: NativeResult = recommendation.native
    results, curves = native.results, native.bounded_curves()
    # Meridian's page calls results.get_response_curves(); answer it with the bounded curves (frozen dataclass).
    object.__setattr__(results, "get_response_curves", lambda: curves)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.output_optimization_summary(filename, str(directory))
    except Exception as exc:  # noqa: BLE001 - an optional page must not fail the stage
        log.warning("optimize: Meridian's HTML summary could not be written (%s: %s)", type(exc).__name__, exc)
        return False
    finally:
        object.__delattr__(results, "get_response_curves")
    return True


def response_curves(recommendation: Recommendation) -> pd.DataFrame:
    """The run's response curves (spend multiplier, spend, incremental revenue mean and interval), on the bounded
    multipliers of :func:`bounded_response_curves`."""
    return curves_frame(recommendation.native.bounded_curves())


def curves_frame(curves: Any) -> pd.DataFrame:
    """Meridian's response-curve dataset as a tidy table: channel, spend_multiplier, spend and incremental revenue
    (mean, interval, median when present)."""
    frame = curves["incremental_outcome"].to_dataframe().reset_index()
    frame = frame.pivot_table(index=["channel", "spend_multiplier"], columns="metric",
                              values="incremental_outcome").reset_index()
    spend = curves["spend"].to_dataframe().reset_index()
    frame = frame.merge(spend, on=["channel", "spend_multiplier"], how="left")
    frame.columns.name = None
    return frame.rename(columns={"mean": "incremental_revenue_mean", "ci_lo": "incremental_revenue_lo",
                                 "ci_hi": "incremental_revenue_hi", "median": "incremental_revenue_median"})
