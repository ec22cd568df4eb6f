"""The ROI prior round-trips, and the engine's numpy forward pass is PyMC-Marketing's graph (checked on prior draws,
so no NUTS is needed)."""

from __future__ import annotations

import dataclasses

import arviz as az
import numpy as np
import pytest
from scipy.stats import norm

from mmm_meridian.models.pymc import ENGINE, fit
from mmm_meridian.models.pymc.model import PymcModel

PRIOR_DRAWS = 2000


def _prior_roi(model: PymcModel, prior: az.InferenceData) -> np.ndarray:
    """(draw, channel) ROI of the prior draws from the graph's own channel contributions: revenue / spend."""
    contribution = prior.prior["channel_contribution"] * prior.constant_data["target_scale"]
    summed = contribution.sum([d for d in contribution.dims if d in ("date", "geo")])
    revenue = np.asarray(summed.transpose("chain", "draw", "channel").values).reshape(-1, len(model.record.channels))
    return revenue / model.record.spend.sum(axis=(0, 1))


def _quantile_se(p: float, sigma: float, n: int) -> float:
    """Monte Carlo standard error of the p-quantile of n Normal(., sigma) draws."""
    return float(np.sqrt(p * (1 - p) / n) / norm.pdf(norm.ppf(p)) * sigma)


@pytest.mark.parametrize("geos", [("national",), ("A", "B")], ids=["national", "geo"])
def test_prior_roi_is_the_specs_lognormal(geos: tuple[str, ...], make_inputs, make_spec) -> None:
    """Each channel's prior ROI (incremental revenue / spend over the data) has the spec's LogNormal: the median and
    the 90 % range (tv: the roi_bounds [1, 4]) within 4 Monte Carlo standard errors of 2000 prior draws."""
    inputs = make_inputs(geos)
    spec = make_spec(inputs, knots=2)
    model = ENGINE.build(inputs, spec)
    prior = fit.sample_prior(model, PRIOR_DRAWS, seed=3)
    roi = _prior_roi(model, prior)
    # Exactly the reparameterisation's free ROI parameter on every draw (geo weights included).
    free = np.asarray(prior.prior["roi"].transpose("chain", "draw", "channel").values).reshape(roi.shape)
    assert np.allclose(roi, free, rtol=1e-9)
    for c, channel in enumerate(spec.channels):
        mu, sigma = channel.priors.roi_mu, channel.priors.roi_sigma
        for p in (0.05, 0.5, 0.95):
            expected = mu + sigma * norm.ppf(p)
            assert abs(np.quantile(np.log(roi[:, c]), p) - expected) < 4 * _quantile_se(p, sigma, PRIOR_DRAWS), \
                (channel.channel, p)
    tv = np.quantile(roi[:, 0], [0.05, 0.95])
    assert tv == pytest.approx([1.0, 4.0], rel=4 * _quantile_se(0.05, spec.channels[0].priors.roi_sigma, PRIOR_DRAWS))


@pytest.mark.parametrize("variant", ["binomial", "hill_before_adstock", "geo"])
def test_forward_pass_is_pymc_marketings_graph(variant: str, make_inputs, make_spec) -> None:
    """The numpy forward pass (every answer's) equals the model graph's contributions and mean on prior draws."""
    inputs = make_inputs(("A", "B") if variant == "geo" else ("national",))
    spec = make_spec(inputs, knots=3)
    if variant == "binomial":
        spec = dataclasses.replace(spec, decay_function="binomial")
    elif variant == "hill_before_adstock":
        spec = dataclasses.replace(spec, hill_before_adstock=True)
    model = ENGINE.build(inputs, spec)
    prior = fit.sample_prior(model, 50, seed=1)
    model.mmm.idata = az.InferenceData(posterior=prior.prior, constant_data=prior.constant_data)
    model.sampled = True
    post = model.posterior()
    scale = prior.constant_data["target_scale"]
    graph = (prior.prior["channel_contribution"] * scale).stack(s=("chain", "draw")).transpose("s", "date", ...)
    ours = post.contribution(reduce="none")
    assert np.allclose(ours.reshape(graph.shape), graph.values, rtol=1e-9, atol=1e-9)
    parts = prior.prior["intercept_contribution"] + prior.prior["channel_contribution"].sum("channel") \
        + prior.prior["control_contribution"].sum("control")
    mean = (parts * scale).stack(s=("chain", "draw")).transpose("s", "date", ...)
    assert np.allclose(post.expected().reshape(mean.shape), mean.values, rtol=1e-9, atol=1e-6)
