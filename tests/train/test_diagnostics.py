"""The convergence gate on synthetic posteriors: pass, fail with the worst parameters, warn."""

from __future__ import annotations

import json
import logging

import arviz as az
import numpy as np
import pytest

from mmm_meridian.config.modeling import ConvergenceConfig, GateParameters, OnFailure
from mmm_meridian.errors import UserError
from mmm_meridian.models.diagnostics import Diagnostics, gate
from mmm_meridian.models.diagnostics import compute as compute_any
from mmm_meridian.models.meridian import MEDIA_PARAMETERS


def compute(idata, thresholds):
    """The diagnostics of a Meridian-shaped posterior (the Meridian engine's media parameters gated)."""
    return compute_any(idata, thresholds, MEDIA_PARAMETERS)


def _posterior(shift: float, draws: int = 1000, seed: int = 0) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    roi = rng.normal(size=(4, draws, 3))
    roi[0] += shift  # one chain away from the others: high R-hat
    return az.from_dict(posterior={"roi_m": roi, "sigma": rng.normal(size=(4, draws)),
                                   "slope_m": np.ones((4, draws, 3))},
                        sample_stats={"diverging": np.zeros((4, draws), dtype=bool)})


def test_well_mixed_chains_pass():
    diagnostics = compute(_posterior(0.0), ConvergenceConfig())
    assert diagnostics.converged and diagnostics.max_rhat < 1.01 and diagnostics.min_ess > 1000
    assert {p.name for p in diagnostics.parameters} == {"roi_m", "sigma"}  # constant slope_m left out
    gate(diagnostics, ConvergenceConfig())


def test_stuck_chain_fails_listing_worst_parameters():
    thresholds = ConvergenceConfig(max_rhat=1.1, min_ess=400)
    diagnostics = compute(_posterior(3.0), thresholds)
    assert not diagnostics.converged and diagnostics.worst(1)[0].name == "roi_m"
    with pytest.raises(UserError) as info:
        gate(diagnostics, thresholds)
    message = info.value.one_line()
    assert "max R-hat" in message and "roi_m (R-hat" in message
    assert "training=production" in message and "review the priors" in message


def test_divergences_count_against_the_gate_as_a_share_of_draws(caplog):
    idata = _posterior(0.0)
    kept = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    idata.sample_stats["diverging"][0, :5] = True
    diagnostics = compute(idata, ConvergenceConfig(max_divergences_pct=0))
    assert diagnostics.divergences == 5 and not diagnostics.converged
    assert diagnostics.failures == [f"5 divergent transitions ({500 / kept:.2f} % of {kept} draws) > 0 %"]
    with caplog.at_level(logging.WARNING):
        lenient = compute(idata, ConvergenceConfig(max_divergences_pct=100.0 * 5 / kept))
    assert lenient.converged and "5 divergent transition(s)" in caplog.text  # within the limit, still logged


def test_warn_mode_logs_instead_of_failing(caplog):
    thresholds = ConvergenceConfig(on_failure=OnFailure.warn)
    diagnostics = compute(_posterior(3.0), thresholds)
    with caplog.at_level(logging.WARNING):
        gate(diagnostics, thresholds)
    assert "did not converge" in caplog.text


def test_diagnostics_round_trip_through_json_dict():
    diagnostics = compute(_posterior(0.0), ConvergenceConfig())
    diagnostics.extra["backend"] = "jax"
    again = Diagnostics.from_dict(diagnostics.to_dict())
    assert again.converged == diagnostics.converged and again.extra["backend"] == "jax"
    assert [p.name for p in again.parameters] == [p.name for p in diagnostics.parameters]


def _stuck_baseline(draws: int = 500, seed: int = 1) -> az.InferenceData:
    """Media parameters well mixed; the trend knots' chains disagree (the 40-geo case: tau_g, mu_t, knot_values)."""
    rng = np.random.default_rng(seed)
    knots = rng.normal(size=(4, draws, 5))
    knots[0] += 3.0
    return az.from_dict(posterior={"roi_m": rng.normal(size=(4, draws, 3)), "ec_m": rng.normal(size=(4, draws, 3)),
                                   "knot_values": knots},
                        sample_stats={"diverging": np.zeros((4, draws), dtype=bool)})


def test_the_gate_judges_media_parameters_by_default_and_reports_the_rest(caplog):
    with caplog.at_level(logging.WARNING):
        diagnostics = compute(_stuck_baseline(), ConvergenceConfig())
    assert diagnostics.converged and diagnostics.max_rhat < 1.01
    assert sorted(diagnostics.extra["gated_parameters"]) == ["ec_m", "roi_m"]
    assert diagnostics.extra["ungated_max_rhat"] > 1.3
    assert diagnostics.extra["ungated_failures"][0].startswith("max R-hat")
    assert [p.name for p in diagnostics.parameters if not p.gated] == ["knot_values"]
    assert "knot_values (R-hat" in caplog.text and "gate_parameters=all" in caplog.text
    assert diagnostics.thresholds["gate_parameters"] == "media"


def test_gate_parameters_all_judges_every_parameter():
    thresholds = ConvergenceConfig(gate_parameters=GateParameters.all)
    diagnostics = compute(_stuck_baseline(), thresholds)
    assert not diagnostics.converged and diagnostics.worst(1)[0].name == "knot_values"
    assert diagnostics.failures[0].startswith("max R-hat") and "media parameters" not in diagnostics.failures[0]
    assert diagnostics.extra["ungated_failures"] == [] and diagnostics.extra["ungated_max_rhat"] is None


def test_a_media_failure_says_which_parameters_were_judged():
    idata = _stuck_baseline()
    idata.posterior["roi_m"][0] += 3.0
    diagnostics = compute(idata, ConvergenceConfig())
    assert not diagnostics.converged
    assert diagnostics.failures[0].endswith("(media parameters)") and diagnostics.worst(1)[0].name == "roi_m"


def test_media_parameter_list_matches_meridian():
    from meridian import constants

    meridian_media = {*constants.MEDIA_PARAMETER_NAMES, *constants.RF_PARAMETER_NAMES,
                      *constants.ORGANIC_MEDIA_PARAMETER_NAMES, *constants.ORGANIC_RF_PARAMETER_NAMES,
                      *constants.MEDIA_PARAMETERS, *constants.RF_PARAMETERS, *constants.ORGANIC_MEDIA_PARAMETERS,
                      *constants.ORGANIC_RF_PARAMETERS}
    assert MEDIA_PARAMETERS == meridian_media
    assert not MEDIA_PARAMETERS & set(constants.COMMON_PARAMETER_NAMES)


def test_convergence_settings_round_trip_through_a_fit_job():
    settings = ConvergenceConfig(min_ess=100, on_failure=OnFailure.warn, gate_parameters=GateParameters.all)
    assert ConvergenceConfig.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
