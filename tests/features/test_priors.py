"""Prior construction: the numbers the features stage hands to Meridian."""

from __future__ import annotations

import logging
import math

import pytest
from scipy.stats import beta as beta_dist
from scipy.stats import lognorm

from mmm_meridian.errors import ConfigError
from mmm_meridian.features.priors import FIXED_STRENGTH, all_channel_priors, beta_from_decay, lognormal_from_range


@pytest.mark.parametrize("bounds, mass", [((0.5, 8.0), 0.9), ((0.3, 4.0), 0.8), ((1.0, 1.5), 0.95)])
def test_roi_lognormal_has_configured_mass_inside_bounds(bounds, mass):
    mu, sigma = lognormal_from_range(*bounds, mass)
    dist = lognorm(s=sigma, scale=math.exp(mu))
    assert dist.cdf(bounds[1]) - dist.cdf(bounds[0]) == pytest.approx(mass, abs=1e-6)
    assert dist.median() == pytest.approx(math.sqrt(bounds[0] * bounds[1]), rel=1e-9)


def test_roi_lognormal_matches_meridian_helper():
    from mmm_meridian.models.meridian.adapter import lognormal_from_range as meridian_range

    ours = lognormal_from_range(0.5, 8.0, 0.9)
    theirs = meridian_range(0.5, 8.0, 0.9)
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_bad_range_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot build a LogNormal"):
        lognormal_from_range(2.0, 1.0, 0.9)


@pytest.mark.parametrize("decay, strength", [(0.3, 10.0), (0.7, 4.0), (0.9, 50.0)])
def test_beta_mean_is_configured_decay(decay, strength):
    a, b = beta_from_decay(decay, strength)
    assert beta_dist(a, b).mean() == pytest.approx(decay, abs=1e-12)


def test_channel_priors_and_sources(make_cfg):
    cfg = make_cfg("++features.adstock.platform_overrides.google_search.decay=0.3",
                   "++features.adstock.platform_overrides.google_search.fixed=true",
                   "++features.saturation.channel_overrides.google_display.k=0.3",
                   "++model.priors.roi_bounds.google_video=[0.5,4.0]", "model.priors.roi_mass=0.8",
                   # google_display keeps the defaults (the demo data config sets business knowledge for it)
                   "~features.adstock.platform_overrides.google_display", "~model.priors.roi_bounds.google_display")
    priors = {p.channel: p for p in all_channel_priors(cfg.channels, cfg.features, cfg.model)}
    search, display, video = priors["google_search"], priors["google_display"], priors["google_video"]
    assert (search.decay_source, search.decay_fixed, search.decay) == ("override", True, 0.3)
    assert search.decay_alpha + search.decay_beta == pytest.approx(FIXED_STRENGTH)
    assert beta_dist(search.decay_alpha, search.decay_beta).std() < 0.002
    assert (display.decay_source, display.decay) == ("default", cfg.features.adstock.decay)
    assert (display.k_source, display.k, math.exp(display.ec_mu)) == ("override", 0.3, pytest.approx(0.3))
    assert display.ec_sigma == pytest.approx(1 / math.sqrt(cfg.features.saturation.prior_strength))
    assert (video.roi_source, video.roi_bounds) == ("roi_bounds", [0.5, 4.0])
    assert (display.roi_source, display.roi_mu, display.roi_sigma) == ("default", 0.2, 0.9)
    dist = lognorm(s=video.roi_sigma, scale=math.exp(video.roi_mu))
    assert dist.cdf(4.0) - dist.cdf(0.5) == pytest.approx(0.8, abs=1e-6)


def _geo_model(make_cfg, *overrides, n_geos: int = 3, model: bool = True):
    from mmm_meridian.features.stage import build_features
    from mmm_meridian.models.meridian import adapter
    from mmm_meridian.simulate import SimulationSpec, simulate
    from tests.features.helpers import clean_table

    if n_geos == 3:
        series = (("brand_a", "GB"), ("brand_a", "US"), ("brand_a", "DE"))
        dataset = simulate(SimulationSpec(n_weeks=60, series=series, series_scale=(1.0, 1.4, 0.8), seed=1))
        extra = []
    else:  # regions of one country
        series = tuple(("brand_a", f"R{i:02d}") for i in range(n_geos))
        dataset = simulate(SimulationSpec(n_weeks=60, series=series, series_scale=(1.0,) * n_geos, seed=1,
                                          currencies=tuple((region, "GBP") for _, region in series)))
        extra = ["features.seasonality.holidays.country=GB"]
    inputs, spec = build_features(clean_table(dataset), make_cfg("data=demo_geo", *extra, *overrides))
    return spec, adapter.build_model(inputs, spec).prior_broadcast if model else None


def test_geo_spread_priors_are_pooled_by_default_and_configurable(make_cfg):
    spec, prior = _geo_model(make_cfg)
    assert spec.to_dict()["geo_variation"] == {"media": 0.2, "controls": 0.2}  # recorded in feature_spec.json
    assert spec.geo_variation_reason.startswith("auto for media, controls: 3 geos (fewer than 10)")
    assert float(prior.eta_m.distribution.scale) == pytest.approx(0.2)
    assert float(prior.xi_c.distribution.scale) == pytest.approx(0.2)
    spec, prior = _geo_model(make_cfg, "model.priors.geo_variation.media=0.5",
                             "model.priors.geo_variation.controls=null")
    assert spec.geo_variation == {"media": 0.5, "controls": None}
    assert float(prior.eta_m.distribution.scale) == pytest.approx(0.5)
    assert float(prior.xi_c.distribution.scale) == pytest.approx(5.0)  # null: Meridian's default HalfNormal(5)


def test_geo_spread_auto_follows_the_number_of_geos(make_cfg, caplog):
    """auto (the default): pooled below MANY_GEOS geos, Meridian's spread priors from MANY_GEOS on; a value that is
    set is kept at any size; the choice and its reason are logged and recorded in feature_spec.json."""
    from mmm_meridian.config.modeling import MANY_GEOS

    with caplog.at_level(logging.INFO, logger="mmm_meridian.features.stage"):
        spec, prior = _geo_model(make_cfg, n_geos=MANY_GEOS)
    assert spec.geo_variation == {"media": None, "controls": None}
    assert spec.to_dict()["geo_variation_reason"].startswith(f"auto for media, controls: {MANY_GEOS} geos")
    assert float(prior.eta_m.distribution.scale) == pytest.approx(1.0)  # Meridian's HalfNormal(1)
    assert float(prior.xi_c.distribution.scale) == pytest.approx(5.0)
    assert "geo spread priors (HalfNormal scale; null: Meridian's default): media None, controls None" in caplog.text
    spec, _ = _geo_model(make_cfg, "model.priors.geo_variation.controls=0.3", n_geos=MANY_GEOS, model=False)
    assert spec.geo_variation == {"media": None, "controls": 0.3}
    assert spec.geo_variation_reason.startswith("auto for media:")
    spec, _ = _geo_model(make_cfg, "model.priors.geo_variation.media=0.2", "model.priors.geo_variation.controls=0.2",
                         n_geos=MANY_GEOS, model=False)
    assert (spec.geo_variation, spec.geo_variation_reason) == ({"media": 0.2, "controls": 0.2},
                                                              "set by model.priors.geo_variation")
    # The PyMC engine's spread is a fixed scale that no number of geos informs: auto keeps it pooled.
    spec, _ = _geo_model(make_cfg, "model.backend=pymc", n_geos=MANY_GEOS, model=False)
    assert spec.geo_variation == {"media": 0.2, "controls": 0.2}
    assert "fixed scale, not learned" in spec.geo_variation_reason


def test_geo_spread_must_be_positive(make_cfg):
    with pytest.raises(ConfigError, match=r"model.priors.geo_variation.media=0.0 is out of range"):
        make_cfg("model.priors.geo_variation.media=0")
    with pytest.raises(ConfigError, match=r"model.priors.geo_variation.controls='wide' is neither auto"):
        make_cfg("model.priors.geo_variation.controls=wide")
