"""Plan evaluation, PyMC-Marketing's budget optimizer, response curves and the report's outputs on the tiny fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.errors import ConfigError
from mmm_meridian.models.base import (
    BASE,
    CONTROLS,
    CURVE_COLUMNS,
    DECOMPOSITION_COLUMNS,
    FIT_COLUMNS,
    MROI_COLUMNS,
    SEASONALITY,
    PlanEvaluator,
    Recommendation,
)
from mmm_meridian.models.pymc import ENGINE

BOUNDS = 0.5  # every channel within +-50 % of its historical share of the budget


def _optimize(model: Any, budget: float | None = None, lower: float = BOUNDS, upper: float = BOUNDS) -> Recommendation:
    historical = ENGINE.historical_spend(model)
    n = len(historical)
    return ENGINE.optimize(model, pct_of_spend=historical / historical.sum(), lower=np.full(n, lower),
                           upper=np.full(n, upper), budget=budget, fixed_budget=True, target_mroi=None, gtol=1e-4,
                           interval=0.9)


@pytest.fixture(scope="module")
def national_plan(national_fit: tuple[Any, dict]) -> Recommendation:
    return _optimize(national_fit[0], budget=1.1 * ENGINE.historical_spend(national_fit[0]).sum())


def test_plan_evaluator_scales_historical_media(national_fit: tuple[Any, dict]) -> None:
    model = national_fit[0]
    evaluator = ENGINE.plan_evaluator(model, 50, True)
    assert isinstance(evaluator, PlanEvaluator) and evaluator.risk
    historical = evaluator.historical
    roi = ENGINE.roi_table(model)
    assert np.allclose(evaluator.outcome_mean(historical), roi["incremental_revenue"])
    draws = evaluator.outcome_draws(historical)
    assert draws.shape == (50, 2)
    doubled = evaluator.outcome_mean(historical * np.array([2.0, 1.0]))
    assert doubled[0] > roi["incremental_revenue"][0] and np.isclose(doubled[1], roi["incremental_revenue"][1])
    assert np.allclose(evaluator.outcome_mean(np.zeros(2)), 0.0)
    no_risk = ENGINE.plan_evaluator(model, 50, False)
    with pytest.raises(RuntimeError, match="risk analysis is off"):
        no_risk.outcome_draws(historical)
    assert np.allclose(no_risk.outcome_mean(historical), roi["incremental_revenue"])


def test_optimizer_respects_bounds_and_budget(national_fit: tuple[Any, dict], national_plan: Recommendation) -> None:
    model = national_fit[0]
    historical = ENGINE.historical_spend(model)
    budget = 1.1 * historical.sum()
    centre = budget * historical / historical.sum()
    step = national_plan.step
    assert 0 < step <= 1e-3 * budget
    assert np.all(national_plan.spend >= centre * (1 - BOUNDS) - step)
    assert np.all(national_plan.spend <= centre * (1 + BOUNDS) + step)
    assert abs(national_plan.spend.sum() - budget) <= step and national_plan.budget == pytest.approx(budget, abs=step)
    evaluator = ENGINE.plan_evaluator(model, 0, False)
    assert np.allclose(national_plan.mean_outcome, evaluator.outcome_mean(national_plan.spend))
    # No feasible plan on a fine grid does better than the optimizer's (1 %: its objective also counts the
    # carryover past the last week, the evaluator does not).
    best = max(evaluator.outcome_mean(np.array([tv, budget - tv])).sum()
               for tv in np.linspace(centre[0] * (1 - BOUNDS), centre[0] * (1 + BOUNDS), 41)
               if centre[1] * (1 - BOUNDS) <= budget - tv <= centre[1] * (1 + BOUNDS))
    assert national_plan.mean_outcome.sum() >= 0.99 * best
    assert national_plan.mean_outcome.sum() >= evaluator.outcome_mean(centre).sum() * 0.999


def test_optimizer_keeps_each_channels_geo_split(geo_fit: tuple[Any, dict]) -> None:
    model = geo_fit[0]
    plan = _optimize(model)
    cells = plan.native.cells  # (geo, channel) spend over the period
    historical_cells = model.record.spend.sum(axis=0)
    assert np.allclose(cells / cells.sum(axis=0), historical_cells / historical_cells.sum(axis=0), atol=1e-6)
    assert np.allclose(cells.sum(axis=0), plan.spend)
    assert abs(plan.spend.sum() - ENGINE.historical_spend(model).sum()) <= plan.step


def test_flexible_budget_and_impossible_bounds_are_refused(national_fit: tuple[Any, dict]) -> None:
    model = national_fit[0]
    historical = ENGINE.historical_spend(model)
    with pytest.raises(ConfigError) as error:
        ENGINE.optimize(model, pct_of_spend=historical / historical.sum(), lower=np.zeros(2), upper=np.ones(2),
                        budget=None, fixed_budget=False, target_mroi=1.0, gtol=1e-4, interval=0.9)
    assert "model.backend=meridian" in error.value.what
    assert error.value.where == "config keys model.backend, optimization.objective" and error.value.fix
    with pytest.raises(ConfigError, match="cannot hold the budget"):
        ENGINE.optimize(model, pct_of_spend=np.array([0.1, 0.1]), lower=np.zeros(2), upper=np.zeros(2),
                        budget=None, fixed_budget=True, target_mroi=None, gtol=1e-4, interval=0.9)


def test_response_curves_cover_the_bounds(national_fit: tuple[Any, dict], national_plan: Recommendation) -> None:
    model = national_fit[0]
    curves = ENGINE.response_curves(model, national_plan)
    assert tuple(curves.columns) == CURVE_COLUMNS
    assert curves["channel"].unique().tolist() == ["tv", "search"]
    # Up to the largest upper bound (1.1 x 1.5 of historical spend) plus Meridian's padding of 0.5.
    assert curves["spend_multiplier"].min() == 0.0 and curves["spend_multiplier"].max() == pytest.approx(2.15)
    assert curves.groupby("channel").size().tolist() == [101 + 40] * 2
    wide = ENGINE.response_curves(model, _optimize(model, upper=2.0))
    assert wide["spend_multiplier"].max() == pytest.approx(3.5)
    roi = ENGINE.roi_table(model).set_index("channel")
    for channel, curve in curves.groupby("channel"):
        assert curve["incremental_revenue_mean"].iloc[0] == 0.0
        assert np.all(np.diff(curve["incremental_revenue_mean"]) > 0)
        at_one = curve[np.isclose(curve["spend_multiplier"], 1.0)]
        assert at_one["incremental_revenue_mean"].item() == pytest.approx(roi.loc[channel, "incremental_revenue"])
        assert at_one["spend"].item() == pytest.approx(roi.loc[channel, "spend"])
        assert (curve["incremental_revenue_lo"] <= curve["incremental_revenue_hi"]).all()


@pytest.mark.parametrize("fixture", ["national_fit", "geo_fit"])
def test_model_outputs_add_up(fixture: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(fixture)[0]
    kinds = {"sin_1": "annual_fourier", "price": "data_control"}
    outputs = ENGINE.model_outputs(model, kinds)
    fit, parts = outputs.fit, outputs.decomposition
    assert tuple(fit.columns) == FIT_COLUMNS and tuple(parts.columns) == DECOMPOSITION_COLUMNS
    assert tuple(outputs.marginal_roi.columns) == MROI_COLUMNS and tuple(outputs.response_curves.columns) == \
        CURVE_COLUMNS
    assert set(parts["component"]) == {BASE, SEASONALITY, CONTROLS, "tv", "search"}
    weekly = parts.groupby("time")["revenue"].sum()
    assert np.allclose(weekly.to_numpy(), fit.set_index("time")["expected"].reindex(weekly.index).to_numpy(),
                       rtol=1e-9)
    media = parts[parts["component_type"] == "media"].groupby("component")["revenue"].sum()
    roi = ENGINE.roi_table(model).set_index("channel")
    assert np.allclose(media.reindex(roi.index), roi["incremental_revenue"])
    actual = ENGINE.expected_vs_actual(model).groupby("time")["actual"].sum()
    assert np.allclose(fit["actual"].to_numpy(), actual.to_numpy())
    assert (fit["expected_lo_90"] <= fit["expected"]).all() and (fit["expected"] <= fit["expected_hi_90"]).all()
    # Diminishing returns: the next unit of spend earns less than the average one.
    assert (outputs.marginal_roi.set_index("channel")["mroi_mean"] < roi["roi_mean"]).all()
    assert ENGINE.model_outputs(model, kinds, with_curves=False).response_curves.empty
    assert isinstance(outputs.decomposition["time"].iloc[0], pd.Timestamp)
