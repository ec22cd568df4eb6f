"""Meridian's optimiser on a fitted model with known truth: better true revenue, every bound kept, stage outputs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, StageWriter
from mmm_meridian.errors import ConfigError
from mmm_meridian.optimize import stage
from mmm_meridian.optimize.constraints import share_bounds
from mmm_meridian.pipeline import StageContext
from tests.optimize.fixtures import fixture_config

FAST = ["optimization.gtol=0.001"]


@pytest.fixture(scope="module")
def model(fitted):
    from mmm_meridian.models.meridian import ENGINE

    ENGINE.apply(ENGINE.plan(fixture_config(fitted.root).runtime))
    return ENGINE.load(fitted.model_path)


def run_stage(fitted, tmp_path, *overrides):
    cfg = fixture_config(tmp_path, *FAST, *overrides)
    out = tmp_path / "optimize"
    out.mkdir()
    ctx = StageContext(cfg, "optimize", ArtifactStore(cfg.paths.artifacts), StageWriter("optimize", out),
                       {"train": fitted.stage_dir("train")}, logging.getLogger("test.optimize"))
    return stage.run(ctx), out


def test_recommendation_raises_true_revenue_and_keeps_every_bound(fitted, model, tmp_path):
    from mmm_meridian.models.meridian import ENGINE
    from mmm_meridian.optimize.allocate import PlanRequest, optimise_plan

    cfg = fixture_config(tmp_path, "optimization.platform_constraints.min_spend_pct=0.1",
                         "optimization.platform_constraints.max_spend_pct=0.65")
    channels, historical = ENGINE.channel_names(model), ENGINE.historical_spend(model)
    budget = float(historical.sum())
    bounds = share_bounds(cfg.optimization.platform_constraints, channels)
    result = optimise_plan(ENGINE, model, ENGINE.plan_evaluator(model, 0, True), PlanRequest("test", bounds, budget),
                           gtol=1e-3, width=0.9, weekly=ENGINE.weekly_spend(model))
    recommended = result.recommended
    current = dict(zip(channels, historical, strict=True))
    assert recommended != pytest.approx(current, rel=1e-3)  # the optimiser moved money
    # Known truth: the simulator's response curves under the same flighting assumption as Meridian.
    assert fitted.dataset.expected_revenue(recommended) > fitted.dataset.expected_revenue(current)
    # Every bound, checked here from the plan itself; Meridian's grid moves bounds by at most one step.
    step = result.recommendation.step
    for channel in channels:
        assert 0.1 * budget - step <= recommended[channel] <= 0.65 * budget + step
    assert abs(sum(recommended.values()) - budget) <= len(channels) * step
    assert result.constraints_satisfied
    # Our paired evaluation on all draws reproduces Meridian's own posterior mean for the recommended plan.
    np.testing.assert_allclose(result.allocation["expected_incremental_revenue"],
                               result.recommendation.mean_outcome, rtol=1e-4)


def test_stage_writes_allocation_scenarios_summary_and_html(fitted, tmp_path, monkeypatch):
    from meridian.analysis import optimizer as meridian_optimizer

    grids = []  # Meridian's optimisation grids built by the stage (the expensive step of an optimisation)
    build = meridian_optimizer.BudgetOptimizer.create_optimization_grid
    monkeypatch.setattr(meridian_optimizer.BudgetOptimizer, "create_optimization_grid",
                        lambda self, *a, **k: grids.append(k) or build(self, *a, **k))
    presets = ["~optimization.scenario_presets.budget_minus_10", "~optimization.scenario_presets.budget_plus_10",
               "~optimization.scenario_presets.budget_minus_20", "~optimization.scenario_presets.current_budget",
               "optimization.scenario_presets.conservative.max_spend_pct=0.3",
               "optimization.sensitivity.n_draws=50", "optimization.response_curves=false",
               "optimization.max_posterior_draws=60", "optimization.platform_constraints.on_current_mix_outside=warn"]
    summary, out = run_stage(fitted, tmp_path, *presets)
    allocation = pd.read_csv(out / "allocation.csv")
    assert list(allocation["channel"]) == ["google_search", "google_display", "google_video"]
    for column in ("current_spend", "recommended_spend", "change_pct", "current_roi", "expected_roi",
                   "expected_incremental_revenue", "expected_incremental_revenue_lo",
                   "expected_incremental_revenue_hi", "extrapolation"):
        assert column in allocation.columns
    np.testing.assert_allclose(allocation["change_pct"],
                               (allocation["recommended_spend"] / allocation["current_spend"] - 1) * 100)
    assert (allocation["expected_incremental_revenue_lo"] <= allocation["expected_incremental_revenue"]).all()
    # Default bounds (5 % .. 40 % of the budget) with the search channel historically above 40 %.
    budget = allocation["current_spend"].sum()
    step = json.loads((out / "summary.json").read_text())["constraints"]["tolerance"]
    assert step <= 0.01 * budget  # Meridian's grid step for gtol=0.001
    assert allocation["recommended_spend"].max() <= 0.4 * budget + step
    assert allocation["recommended_spend"].min() >= 0.05 * budget - step

    scenarios = pd.read_csv(out / "scenarios.csv").set_index("scenario")
    assert set(scenarios.index) == {"budget_plus_20", "conservative", "aggressive"}
    assert scenarios.loc["conservative", "status"].startswith("infeasible: the maximum shares add up to 90.0%")
    plus = scenarios.loc["budget_plus_20"]
    assert plus["budget"] == pytest.approx(1.2 * budget)
    spend_cols = [c for c in scenarios.columns if c.startswith("spend_")]
    assert scenarios.loc["budget_plus_20", spend_cols].sum() == pytest.approx(1.2 * budget, rel=2e-3)
    assert 0.0 <= plus["prob_beats_current_mix"] <= 1.0
    # One grid serves the recommendation and every feasible scenario, the widest (aggressive: up to 60 %) included.
    assert scenarios.loc["aggressive", "status"] == "ok"
    assert len(grids) == 1

    doc = json.loads((out / "summary.json").read_text())
    assert doc["constraints"]["satisfied"] is True
    assert doc["constraints"]["meridian"]["centre_is_historical"] is False
    assert doc["n_draws"] == 50
    assert doc["posterior_draws"] == {"used": 60, "in_fit": 120}  # 2 chains x 60 draws, every second one kept
    assert doc["expected_lift"]["lo"] <= doc["expected_lift"]["mean"] <= doc["expected_lift"]["hi"]
    assert summary["prob_beats_current"] == pytest.approx(doc["prob_beats_current"], abs=1e-4)
    assert any("historical mix breaks the platform constraints" in note for note in doc["business_notes"])
    assert [b["channel"] for b in doc["current_mix_breaches"]] == ["google_search"]
    assert doc["current_mix_breaches"][0]["side"] == "above"
    assert (out / stage.HTML_FILE).stat().st_size > 10_000


def test_a_plan_that_loses_to_the_current_mix_is_never_the_recommendation(fitted, tmp_path):
    # google_search, the channel with the highest true ROI (3.0) and over 40 % of spend, capped at 5 %: the best
    # plan inside these bounds must move most of its budget to channels that return less.
    summary, out = run_stage(fitted, tmp_path, "optimization.platform_constraints.on_current_mix_outside=warn",
                             "++optimization.platform_constraints.channel_overrides.google_search.max_spend_pct=0.05",
                             "optimization.platform_constraints.max_spend_pct=0.95", "optimization.meridian_html=false",
                             "optimization.max_posterior_draws=60", "optimization.sensitivity.n_draws=60")
    doc = json.loads((out / "summary.json").read_text())
    assert doc["expected_lift"]["mean"] < 0
    assert doc["recommendation"] == {"status": "keep_current_mix", "verdict": "loses to the current mix",
                                     "measure": "media-driven revenue", "constraints_cost": pytest.approx(-doc["expected_lift"]["mean"]),
                                     "constraints_cost_pct": pytest.approx(-doc["expected_lift"]["pct"])}
    assert summary["recommendation"] == "keep_current_mix"
    scenarios = pd.read_csv(out / "scenarios.csv")
    ok = scenarios[scenarios["status"] == "ok"]
    assert len(ok) >= 5
    # Each scenario's verdict follows its own posterior: no losing scenario is labelled as beating the mix.
    for row in ok.itertuples():
        assert row.verdict == stage.verdict(row.lift, row.lift_pct)
        assert (row.verdict == "beats the current mix") == (row.lift_pct >= stage.NO_BETTER_PCT)
    assert "loses to the current mix" in set(ok["verdict"])


def test_sensitivity_off_evaluates_no_draws_and_says_so(fitted, tmp_path, monkeypatch):
    from mmm_meridian.models.meridian import optimizer as mo

    common = ["optimization.meridian_html=false", "optimization.response_curves=false",
              "optimization.max_posterior_draws=60", "optimization.platform_constraints.min_spend_pct=0.05",
              "optimization.platform_constraints.max_spend_pct=0.65",
              *[f"~optimization.scenario_presets.{name}" for name in ("budget_minus_20", "budget_minus_10",
                                                                      "current_budget", "budget_plus_10",
                                                                      "conservative", "aggressive")]]
    (tmp_path / "on").mkdir()
    _, out_on = run_stage(fitted, tmp_path / "on", *common, "optimization.sensitivity.n_draws=0")  # every draw
    on = json.loads((out_on / "summary.json").read_text())
    compared: list[int] = []
    original = mo.PlanEvaluator.outcome_draws

    def counting(self, plan):
        draws = original(self, plan)
        compared.append(len(draws))
        return draws

    monkeypatch.setattr(mo.PlanEvaluator, "outcome_draws", counting)
    (tmp_path / "off").mkdir()
    summary, out_off = run_stage(fitted, tmp_path / "off", *common, "optimization.sensitivity.enabled=false")
    assert compared == []  # no plan was compared draw by draw (before the fix: every draw, twice per plan)
    off = json.loads((out_off / "summary.json").read_text())
    assert off["sensitivity"] == {"enabled": False, "n_draws": 0, "note": stage.SENSITIVITY_OFF}
    assert on["sensitivity"] == {"enabled": True, "n_draws": 60, "interval": 0.9}
    assert off["prob_beats_current"] is None and summary["prob_beats_current"] is None
    assert off["n_draws"] == 0
    assert set(off["expected_lift"]) == {"mean", "pct"}
    assert {k: set(v) for k, v in off["expected_incremental_revenue"].items()} == {"current": {"mean"},
                                                                                   "recommended": {"mean"}}
    off_current = off["expected_incremental_revenue"]["current"]["mean"]
    on_revenue = on["expected_incremental_revenue"]
    assert set(on_revenue["current"]) == {"mean", "lo", "hi"}
    assert on_revenue["recommended"]["lo"] < on_revenue["recommended"]["mean"] < on_revenue["recommended"]["hi"]
    # The posterior means are the same figures the risk analysis would have averaged, over the same 60 draws.
    scale = on_revenue["current"]["mean"]
    assert off["expected_lift"]["mean"] == pytest.approx(on["expected_lift"]["mean"], abs=2e-4 * scale)
    assert off["expected_incremental_revenue"]["recommended"]["mean"] == pytest.approx(
        on_revenue["recommended"]["mean"], rel=1e-4)
    assert off_current == pytest.approx(on_revenue["current"]["mean"], rel=1e-4)
    allocation_on, allocation_off = pd.read_csv(out_on / "allocation.csv"), pd.read_csv(out_off / "allocation.csv")
    interval_columns = {"expected_roi_lo", "expected_roi_hi", "expected_incremental_revenue_lo",
                        "expected_incremental_revenue_hi"}
    assert interval_columns <= set(allocation_on.columns)
    assert set(allocation_off.columns) == set(allocation_on.columns) - interval_columns
    np.testing.assert_allclose(allocation_off["expected_incremental_revenue"],
                               allocation_on["expected_incremental_revenue"], rtol=1e-4)
    scenarios_off = pd.read_csv(out_off / "scenarios.csv")
    assert list(scenarios_off["scenario"]) == ["budget_plus_20"]
    assert not {"prob_beats_current_mix", "lift_lo", "lift_hi", "expected_incremental_revenue_lo"} & set(
        scenarios_off.columns)
    assert scenarios_off.loc[0, "lift"] == pytest.approx(pd.read_csv(out_on / "scenarios.csv").loc[0, "lift"],
                                                         abs=2e-4 * 1.2 * scale)


def test_response_curves_stay_bounded_however_far_the_bounds_reach(fitted, tmp_path):
    from mmm_meridian.models.meridian import optimizer as mo

    # The smallest channel may take 95 % of the budget: Meridian's own curves would run to ~9x in 0.01 steps.
    summary, out = run_stage(fitted, tmp_path, "optimization.platform_constraints.min_spend_pct=0.0",
                             "optimization.platform_constraints.max_spend_pct=0.95", "optimization.scenario_presets={}",
                             "optimization.max_posterior_draws=60", "optimization.sensitivity.n_draws=60")
    curves = pd.read_csv(out / "response_curves.csv")
    per_channel = curves.groupby("channel")["spend_multiplier"]
    assert per_channel.count().max() <= 101 + mo.CURVE_POINTS_BEYOND_2X
    reach = json.loads((out / "summary.json").read_text())["bounds_reach"]
    assert per_channel.max().max() >= max(r["max_scale"] for r in reach)  # the curves still cover the bounds
    assert (out / stage.HTML_FILE).stat().st_size > 10_000
    assert list(mo.curve_multipliers(1.5)) == pytest.approx(np.arange(0, 1.5 + 1e-9, 0.02))
    assert len(mo.curve_multipliers(800.0)) == 101 + mo.CURVE_POINTS_BEYOND_2X


def test_profit_objective_lets_the_budget_move(fitted, tmp_path):
    summary, out = run_stage(fitted, tmp_path, "optimization.objective=profit", "optimization.margin=0.5",
                             "optimization.target_mroi=1.0", "optimization.platform_constraints.max_spend_pct=0.7",
                             "optimization.platform_constraints.min_spend_pct=0.0", "optimization.gtol=0.02", "optimization.meridian_html=false",
                             "optimization.response_curves=false", "optimization.scenario_presets={}")
    doc = json.loads((out / "summary.json").read_text())
    assert doc["budget"]["fixed"] is False
    assert doc["profit"]["meridian_target_mroi"] == pytest.approx(2.0)
    allocation = pd.read_csv(out / "allocation.csv")
    # A channel whose marginal ROI stays below target_mroi / margin gets less than today.
    assert doc["budget"]["recommended_total"] != pytest.approx(doc["budget"]["reference"], rel=1e-3)
    assert summary["objective"] == "profit"
    gain = doc["profit"]["recommended"] - doc["profit"]["current"]
    assert doc["recommendation"]["measure"] == "profit"
    assert doc["recommendation"]["status"] == ("recommended" if gain / abs(doc["profit"]["current"]) * 100
                                               >= stage.NO_BETTER_PCT else "keep_current_mix")
    assert len(allocation) == 3


def test_profit_objective_with_a_fixed_budget_is_refused(fitted, tmp_path):
    with pytest.raises(ConfigError, match="objective=profit chooses the budget"):
        run_stage(fitted, tmp_path, "optimization.objective=profit", "optimization.budget=1000000")


def test_thinning_keeps_every_chain_and_the_posterior_it_summarises(fitted):
    from mmm_meridian.errors import UserError
    from mmm_meridian.models.meridian import adapter

    mmm = adapter.load_model(fitted.model_path)  # a fresh copy: thinning works in place
    groups = mmm.inference_data.groups()
    full = np.asarray(adapter.analyzer(mmm).roi(), dtype=np.float64)
    assert adapter.thin_posterior(mmm, None) == (120, 120)
    assert adapter.thin_posterior(mmm, 500) == (120, 120)
    assert adapter.thin_posterior(mmm, 45) == (40, 120)  # stride 3: draws 0, 3, ..., 57 of both chains
    posterior = mmm.inference_data.posterior
    assert (posterior.sizes["chain"], posterior.sizes["draw"]) == (2, 20)
    thinned = np.asarray(adapter.analyzer(mmm).roi(), dtype=np.float64)
    assert thinned.shape[:2] == (2, 20)  # the analyzer (hence the optimiser) sees the thinned posterior
    np.testing.assert_allclose(thinned, full[:, ::3])
    # other groups are kept whole (the fixture draws no prior: sample_stats is the other group with draws)
    assert set(mmm.inference_data.groups()) == set(groups) and mmm.inference_data.sample_stats.sizes["draw"] == 60
    with pytest.raises(UserError, match="below the number of chains"):
        adapter.thin_posterior(mmm, 1)


def test_report_thins_its_model_analyses_to_its_own_limit(fitted, tmp_path):
    from mmm_meridian.errors import UserError
    from mmm_meridian.models.meridian import ENGINE

    mmm = ENGINE.load(fitted.model_path)
    limit = fixture_config(tmp_path, "reports.max_posterior_draws=30").reports.max_posterior_draws
    assert ENGINE.thin(mmm, limit, key="reports") == (30, 120)
    assert mmm.inference_data.posterior.sizes["draw"] == 15
    with pytest.raises(UserError) as info:
        ENGINE.thin(mmm, fixture_config(tmp_path, "reports.max_posterior_draws=1").reports.max_posterior_draws,
                    key="reports")
    assert "reports.max_posterior_draws" in info.value.one_line()
