"""OPTIMIZE stage: allocate the budget with the engine's own optimizer (Meridian's ``BudgetOptimizer``, PyMC-Marketing's
budget optimizer) under the business's share constraints.

Reads the train stage's saved model. Writes to ``optimize/``:

- ``allocation.csv``: per channel current and recommended spend, change %, shares, min / max spend, current and
  expected ROI, incremental revenue (posterior mean and interval), scale vs history and an extrapolation flag;
- ``scenarios.csv``: every ``optimization.scenario_presets`` entry optimised at its budget and constraints (fixed
  budget), with the lift over the historical mix at that budget and its posterior probability; infeasible presets
  are listed with the reason;
- ``summary.json``: objective, budgets, expected lift with interval, probability of beating the current plan,
  constraints (user bounds, Meridian's arguments, satisfied or not), guardrails and business notes;
  ``sensitivity`` says whether the paired risk analysis ran (``optimization.sensitivity.enabled``): when it is off,
  the plans are compared by posterior means only, so no interval or probability is written (null / absent columns);
- ``response_curves.csv`` and the engine's ``optimization_summary.html`` (when enabled and the engine has one).

Objectives: ``roas`` maximises incremental revenue at a fixed budget (``optimization.budget`` or the historical
total); ``profit`` lets the budget move (Meridian's flexible budget) and spends while the marginal ROI x margin
stays above ``target_mroi``, i.e. Meridian's ``target_mroi = optimization.target_mroi / optimization.margin``; the
share bounds then refer to the historical total.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import models
from mmm_meridian.config.decisions import Objective, OptimizationConfig
from mmm_meridian.errors import ConfigError, UserError
from mmm_meridian.models.base import Engine
from mmm_meridian.optimize.constraints import (
    bounds_reach,
    check_current_mix,
    check_feasible,
    check_share_totals,
    share_bounds,
    spend_limits,
)
from mmm_meridian.optimize.risk import business_notes

# Config keys this stage reads (its artifacts are keyed on them; see :mod:`mmm_meridian.pipeline`).
READS: tuple[str, ...] = ("optimization", "model.backend")

HTML_FILE = "optimization_summary.html"


def main_request(opt: OptimizationConfig, channels: list[str], historical: np.ndarray) -> Any:
    """The main recommendation's request from the objective; refuses impossible settings before optimising.

    Raises:
        ConfigError: infeasible share bounds, or a fixed ``budget`` with the flexible ``profit`` objective.
    """
    from mmm_meridian.optimize.allocate import PlanRequest

    bounds = share_bounds(opt.platform_constraints, channels, current_share=historical / historical.sum())
    check_feasible(bounds, historical)
    if opt.objective == Objective.profit:
        if opt.budget is not None:
            raise ConfigError(f"optimization.budget={opt.budget} is set but objective=profit chooses the budget",
                              where="config key optimization.budget",
                              fix="set optimization.budget=null, or use objective=roas for a fixed budget")
        return PlanRequest("recommended", bounds, float(historical.sum()), fixed_budget=False,
                           target_mroi=opt.target_mroi / opt.margin)
    return PlanRequest("recommended", bounds, float(opt.budget or historical.sum()))


def scenario_request(opt: OptimizationConfig, name: str, channels: list[str], historical: np.ndarray) -> Any:
    """The fixed-budget request of scenario preset ``name``; raises ConfigError when it is infeasible."""
    from mmm_meridian.optimize.allocate import PlanRequest

    preset = opt.scenario_presets[name]
    bounds = share_bounds(opt.platform_constraints, channels, preset.min_spend_pct, preset.max_spend_pct,
                          current_share=historical / historical.sum())
    check_feasible(bounds, historical, where=f"config key optimization.scenario_presets.{name}")
    base = float(opt.budget or historical.sum())
    return PlanRequest(name, bounds, base * (1 + preset.budget_change_pct / 100.0))


def fixed_budget_requests(opt: OptimizationConfig, channels: list[str], historical: np.ndarray) -> list[Any]:
    """The main request (when fixed-budget) and every feasible scenario preset: what the shared grid must cover."""
    main = main_request(opt, channels, historical)
    requests = [main] if main.fixed_budget else []
    for name in opt.scenario_presets:
        try:
            requests.append(scenario_request(opt, name, channels, historical))
        except ConfigError:
            continue
    return requests


# A plan whose posterior-mean lift over the current mix is within this share of the current mix's media revenue is
# "no better": Meridian's grid rounds spends to steps of gtol x budget, which moves the answer by about that much.
NO_BETTER_PCT = 0.1


def verdict(lift_mean: float, lift_pct: float) -> str:
    """How a plan compares with spending the same budget the way the business does today (posterior mean)."""
    if abs(lift_pct) < NO_BETTER_PCT:
        return "no better than the current mix"
    return "beats the current mix" if lift_mean > 0 else "loses to the current mix"


def weekly_reach(weekly: pd.DataFrame, channels: list[str]) -> np.ndarray:
    """Per channel, its largest week over its average live week (the scale the data has seen; 1 without weeks)."""
    out = []
    for channel in channels:
        weeks = weekly[channel].to_numpy(dtype=float) if channel in weekly else np.array([])
        live = weeks[weeks > 0]
        out.append(float(live.max() / live.mean()) if live.size else 1.0)
    return np.array(out)


def preflight(opt: OptimizationConfig, channels: list[str], historical: np.ndarray, weekly: pd.DataFrame,
              log: Any) -> dict[str, Any]:
    """Check the main plan's bounds against today's mix and the spend range the data has seen, before optimising.

    Called by the pipeline before training (so a bad combination stops in seconds, not after the fit) and again by
    the stage. Returns what the summary records: the breaches of the current mix and each channel's reach.

    Raises:
        ConfigError: infeasible bounds, or the current mix breaks them with ``on_current_mix_outside: fail``.
    """
    # Bounds only: building the plan request would import Meridian before the pipeline has set its runtime.
    bounds = share_bounds(opt.platform_constraints, channels, current_share=historical / historical.sum())
    check_feasible(bounds, historical)
    breaches = check_current_mix(bounds, historical, opt.platform_constraints.on_current_mix_outside.value)
    for breach in breaches:
        log.warning("optimize: the current mix breaks the bounds: %s (on_current_mix_outside=warn: the best plan "
                    "inside them is shown next to the current mix, with what the constraints cost)", breach.describe())
    reach = bounds_reach(bounds, historical, weekly_reach(weekly, channels))
    if opt.flag_extrapolation:
        for item in reach:
            if item.forces_extrapolation:
                log.warning("optimize: %s: every plan inside the bounds extrapolates the response curve",
                            item.describe())
    return {"current_mix_breaches": [{"channel": b.channel, "current_share": b.current_share, "min_share": b.low,
                                      "max_share": b.high, "side": b.side} for b in breaches],
            "bounds_reach": [{"channel": r.channel, "min_scale": r.min_scale, "max_scale": r.max_scale,
                              "observed_max_scale": r.observed_max_scale,
                              "forces_extrapolation": r.forces_extrapolation} for r in reach]}


def build_shared_grid(engine: Engine, mmm: Any, opt: OptimizationConfig, channels: list[str],
                      historical: np.ndarray) -> Any:
    requests = fixed_budget_requests(opt, channels, historical)
    if not requests:
        return None
    highest = np.max([spend_limits(r.bounds, r.budget)[1] for r in requests], axis=0)
    largest, smallest = max(r.budget for r in requests), min(r.budget for r in requests)
    # Meridian's spend step is the power of ten above gtol x the grid's budget, and every plan on the shared grid
    # takes that step: built at the largest scenario's budget, a +20 % scenario can make it 10x coarser than gtol
    # asks for the others (on the real Conjura brand: 10M steps, which rounded three small channels' bounds to 0 and
    # cut them by 100 %). Built at the smallest budget's tolerance, every plan gets at least its own resolution.
    return engine.shared_grid(mmm, historical, highest, largest, opt.gtol * smallest / largest)


def scenario_rows(engine: Engine, mmm: Any, evaluator: Any, opt: OptimizationConfig, channels: list[str], historical: np.ndarray,
                  weekly: pd.DataFrame, log: Any, reuse: Any = None, grid: Any = None) -> pd.DataFrame:
    """Optimise every scenario preset at a fixed budget; infeasible presets get a row saying why."""
    from mmm_meridian.optimize.allocate import optimise_plan

    rows = []
    for name, preset in opt.scenario_presets.items():
        budget = float(opt.budget or historical.sum()) * (1 + preset.budget_change_pct / 100.0)
        row: dict[str, Any] = {"scenario": name, "budget_change_pct": preset.budget_change_pct, "budget": budget,
                               "min_spend_pct": preset.min_spend_pct, "max_spend_pct": preset.max_spend_pct}
        try:
            request = scenario_request(opt, name, channels, historical)
        except ConfigError as exc:
            log.warning("optimize: scenario %s is infeasible: %s", name, exc.what)
            rows.append({**row, "status": f"infeasible: {exc.what}"})
            continue
        bounds = request.bounds
        same = reuse is not None and reuse.request.fixed_budget and np.isclose(reuse.request.budget, budget) \
            and np.array_equal(reuse.request.bounds.low, bounds.low) \
            and np.array_equal(reuse.request.bounds.high, bounds.high)
        result = reuse if same else optimise_plan(engine, mmm, evaluator, request, gtol=opt.gtol,
                                                  width=opt.sensitivity.interval, weekly=weekly, margin=opt.margin,
                                                  grid=grid)
        c = result.comparison
        row.update({"status": "ok", "expected_incremental_revenue": c["recommended_mean"],
                    **({"expected_incremental_revenue_lo": c["recommended_lo"],
                        "expected_incremental_revenue_hi": c["recommended_hi"]} if evaluator.risk else {}),
                    "current_mix_incremental_revenue": c["current_mean"], "lift": c["lift_mean"],
                    **({"lift_lo": c["lift_lo"], "lift_hi": c["lift_hi"]} if evaluator.risk else {}),
                    "lift_pct": c["lift_pct"],
                    **({"prob_beats_current_mix": c["prob_beats_current"]} if evaluator.risk else {}),
                    "verdict": verdict(c["lift_mean"], c["lift_pct"]),
                    "roi": c["recommended_mean"] / max(c["recommended_spend"], 1e-12),
                    "constraints_satisfied": result.constraints_satisfied,
                    "extrapolated_channels": ";".join(result.allocation.loc[
                        result.allocation.get("extrapolation", pd.Series(dtype=str)).fillna("") != "", "channel"])})
        row.update({f"spend_{ch}": s for ch, s in result.recommended.items()})
        rows.append(row)
        log.info("optimize: scenario %s: budget %.0f, lift %.0f (%.1f %%)%s", name, budget, c["lift_mean"],
                 c["lift_pct"], f", P(beats current mix) {c['prob_beats_current']:.2f}" if evaluator.risk else "")
    return pd.DataFrame(rows)


def recommendation_status(comparison: dict[str, float], objective: Objective = Objective.roas) -> dict[str, Any]:
    """Whether the optimised plan is a recommendation, or the current mix should be kept.

    A plan that its own posterior says is no better than (or worse than) the current mix is never presented as a
    recommendation: that happens when the constraints exclude the current mix (its best plan inside the bounds costs
    revenue), and the cost of the constraints is then what the plan loses. The ``roas`` objective compares media-
    driven revenue at the same budget; ``profit`` compares profit (margin x revenue - spend), since its plan may
    spend less and earn less revenue on purpose.
    """
    c = comparison
    if objective == Objective.profit:
        gain = c["recommended_profit"] - c["current_profit"]
        gain_pct = gain / abs(c["current_profit"]) * 100.0 if c["current_profit"] else float("inf") * gain
    else:
        gain, gain_pct = c["lift_mean"], c["lift_pct"]
    status = verdict(gain, gain_pct)
    recommended = status == "beats the current mix"
    return {"status": "recommended" if recommended else "keep_current_mix", "verdict": status,
            "measure": "profit" if objective == Objective.profit else "media-driven revenue",
            "constraints_cost": 0.0 if recommended else max(-gain, 0.0),
            "constraints_cost_pct": 0.0 if recommended else max(-gain_pct, 0.0)}


SENSITIVITY_OFF = ("optimization.sensitivity.enabled=false: no posterior risk analysis was run (no intervals, no "
                   "probability of beating the current mix); the figures are posterior means")


def sensitivity_block(opt: OptimizationConfig, comparison: dict[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` says about the risk analysis: its draws and interval, or that it was off."""
    if not opt.sensitivity.enabled:
        return {"enabled": False, "n_draws": 0, "note": SENSITIVITY_OFF}
    return {"enabled": True, "n_draws": comparison["n_draws"], "interval": comparison["interval"]}


def summary_document(opt: OptimizationConfig, result: Any, historical: np.ndarray, notes: list[str],
                     html: bool, scenarios: pd.DataFrame) -> dict[str, Any]:
    c = result.comparison
    m = result.constraints
    risk = opt.sensitivity.enabled
    doc: dict[str, Any] = {
        "objective": opt.objective.value,
        "budget": {"historical_total": float(historical.sum()), "reference": result.request.budget,
                   "recommended_total": c["recommended_spend"], "fixed": result.request.fixed_budget},
        # Per plan its posterior mean, and with the risk analysis its interval: {"current": {"mean": ...}, ...}.
        "expected_incremental_revenue": {k: {s: c[f"{k}_{s}"] for s in (("mean", "lo", "hi") if risk else ("mean",))}
                                         for k in ("current", "recommended")},
        "expected_lift": {"mean": c["lift_mean"], "pct": c["lift_pct"],
                          **({"lo": c["lift_lo"], "hi": c["lift_hi"], "interval": c["interval"]} if risk else {})},
        "sensitivity": sensitivity_block(opt, c),
        "prob_beats_current": c["prob_beats_current"], "n_draws": c["n_draws"],
        "profit": {"margin": opt.margin, "current": c["current_profit"], "recommended": c["recommended_profit"]},
        "constraints": {"share_bounds": result.request.bounds.as_dict(), "satisfied": result.constraints_satisfied,
                        "max_violation": float(max(result.violations.values())), "tolerance": result.tolerance,
                        "meridian": {"pct_of_spend": m.pct_of_spend.tolist(),
                                     "spend_constraint_lower": m.spend_constraint_lower.tolist(),
                                     "spend_constraint_upper": m.spend_constraint_upper.tolist(),
                                     "centre_is_historical": m.centre_is_historical}},
        "extrapolated_channels": [r.channel for r in result.guardrails.itertuples() if r.extrapolation]
        if not result.guardrails.empty else [],
        "business_notes": notes, "meridian_html": html,
        "scenarios": {"total": int(len(scenarios)),
                      "feasible": int((scenarios.get("status", pd.Series(dtype=str)) == "ok").sum())},
    }
    doc["recommendation"] = recommendation_status(c, opt.objective)
    if opt.objective == Objective.profit:
        doc["profit"]["target_mroi"] = opt.target_mroi
        doc["profit"]["meridian_target_mroi"] = opt.target_mroi / opt.margin
    return doc


def preflight_check(cfg: Any, store: Any, log: Any) -> bool:
    """The pipeline's start-up check of the budget bounds (see :func:`preflight`), from ``transform/clean.parquet``.

    Share bounds no plan can meet are refused at once (before any stage runs); the current mix is checked as soon as
    the clean table exists. Returns False until then (the pipeline asks again before the next stage).
    """
    from mmm_meridian import frame as cols

    check_share_totals(cfg.optimization.platform_constraints, cfg.channels)
    path = store.stage_dir("transform") / "clean.parquet"
    if store.manifest("transform") is None or not path.is_file():
        return False
    channels = cfg.channels
    clean = pd.read_parquet(path, columns=[cols.TIME, *[cols.spend(c) for c in channels]])
    weekly = clean.groupby(cols.TIME)[[cols.spend(c) for c in channels]].sum()
    weekly.columns = channels
    historical = weekly.sum().to_numpy(dtype=float)
    if not historical.sum() > 0:
        return False  # the features stage refuses a model without spend, with its own message
    preflight(cfg.optimization, channels, historical, weekly, log)
    return True


def run(ctx: Any) -> dict[str, Any]:
    """Stage entry point (see the module docstring)."""
    opt: OptimizationConfig = ctx.cfg.optimization
    engine = models.for_config(ctx.cfg)
    engine.apply(engine.plan(ctx.cfg.runtime))
    from mmm_meridian.optimize.allocate import optimise_plan

    mmm = engine.load(ctx.input_path("train", engine.model_file))
    channels, historical = engine.channel_names(mmm), engine.historical_spend(mmm)
    weekly = engine.weekly_spend(mmm)
    if not historical.sum() > 0:
        raise UserError("the model has no media spend to allocate", where=f"train/{engine.model_file}",
                        fix="check data.channel_map and re-run the pipeline")
    used, total = engine.thin(mmm, opt.max_posterior_draws, key="optimization")
    if used < total:
        ctx.log.info("optimize: using %d of the fit's %d posterior draws (optimization.max_posterior_draws)", used,
                     total)
    request = main_request(opt, channels, historical)
    checks = preflight(opt, channels, historical, weekly, ctx.log)
    evaluator = engine.plan_evaluator(mmm, opt.sensitivity.n_draws, opt.sensitivity.enabled)
    if not opt.sensitivity.enabled:
        ctx.log.info("optimize: risk analysis off (optimization.sensitivity.enabled=false): plans are compared by "
                     "their posterior means only, with no intervals and no probability of beating the current mix")
    ctx.log.info("optimize: %s objective over %d channel(s), reference budget %.0f, bounds %s",
                 opt.objective.value, len(channels), request.budget, request.bounds.as_dict())
    grid = build_shared_grid(engine, mmm, opt, channels, historical)
    result = optimise_plan(engine, mmm, evaluator, request, gtol=opt.gtol, width=opt.sensitivity.interval,
                           weekly=weekly if opt.flag_extrapolation else pd.DataFrame(), margin=opt.margin, grid=grid)
    if not result.constraints_satisfied:
        ctx.log.warning("optimize: the recommendation misses a bound by more than Meridian's grid step: %s",
                        {k: round(v, 2) for k, v in result.violations.items() if v > result.tolerance})
    ctx.out.write_csv("allocation.csv", result.allocation)
    scenarios = scenario_rows(engine, mmm, evaluator, opt, channels, historical,
                              weekly if opt.flag_extrapolation else pd.DataFrame(), ctx.log, reuse=result, grid=grid)
    ctx.out.write_csv("scenarios.csv", scenarios)
    html = opt.meridian_html and engine.write_optimizer_html(result.recommendation, ctx.out.dir, HTML_FILE)
    if opt.response_curves:
        ctx.out.write_csv("response_curves.csv", engine.response_curves(mmm, result.recommendation))
    notes = business_notes(opt.business_notes, result.guardrails, result.constraints.centre_is_historical)
    doc = summary_document(opt, result, historical, notes, html, scenarios)
    doc["posterior_draws"] = {"used": used, "in_fit": total}
    doc.update(checks)
    ctx.out.write_json("summary.json", doc)
    c = result.comparison
    risk = (f"{c['interval'] * 100:.0f} % interval {c['lift_lo']:.0f} to {c['lift_hi']:.0f}; P(beats current) = "
            f"{c['prob_beats_current']:.2f}" if evaluator.risk else "risk analysis off")
    if doc["recommendation"]["status"] == "recommended":
        ctx.log.info("optimize: recommended plan lifts incremental revenue by %.0f (%.1f %%, %s); constraints %s",
                     c["lift_mean"], c["lift_pct"], risk,
                     "satisfied" if result.constraints_satisfied else "NOT satisfied")
    else:
        ctx.log.warning("optimize: keep the current mix: the best plan inside the bounds %s (lift %.0f, %.1f %%; "
                        "%s); the constraints cost %.0f of media-driven revenue",
                        doc["recommendation"]["verdict"], c["lift_mean"], c["lift_pct"], risk,
                        doc["recommendation"]["constraints_cost"])
    return {"objective": opt.objective.value, "recommendation": doc["recommendation"]["status"],
            "budget": round(c["recommended_spend"], 2),
            "lift": round(c["lift_mean"], 2), "lift_pct": round(c["lift_pct"], 3),
            "prob_beats_current": None if c["prob_beats_current"] is None else round(c["prob_beats_current"], 4),
            "constraints_satisfied": result.constraints_satisfied, "scenarios": int(len(scenarios)),
            "extrapolated_channels": len(doc["extrapolated_channels"])}
