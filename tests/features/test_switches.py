"""Feature and prior switches set by their dotted config names change the features stage's output."""

from __future__ import annotations

import math

import pytest

from mmm_meridian import frame as cols
from mmm_meridian.features.priors import FIXED_STRENGTH
from mmm_meridian.features.stage import build_features
from mmm_meridian.simulate import load_demo
from tests.features.helpers import clean_table

# The demo data config gives google_display its own decay and ROI bounds; without them it takes the section defaults.
NO_DISPLAY_OVERRIDES = ("~features.adstock.platform_overrides.google_display",
                        "~model.priors.roi_bounds.google_display")


@pytest.fixture(scope="module")
def demo():
    return load_demo()


@pytest.fixture(scope="module")
def national(demo):
    return clean_table(demo, territories=["GB"])


@pytest.fixture(scope="module")
def geo(demo):
    return clean_table(demo, territories=["GB", "US"])


def _priors(make_cfg, clean, *overrides):
    _, spec = build_features(clean, make_cfg(*NO_DISPLAY_OVERRIDES, *overrides))
    return {c.channel: c.priors for c in spec.channels}


def test_adstock_decay_centres_the_default_carryover_prior(make_cfg, national):
    low = _priors(make_cfg, national, "features.adstock.decay=0.3")
    high = _priors(make_cfg, national, "features.adstock.decay=0.8")
    strength = 10.0  # features.adstock.prior_strength's default
    for priors, decay in ((low, 0.3), (high, 0.8)):
        display = priors["google_display"]
        assert (display.decay_source, display.decay) == ("default", decay)
        assert (display.decay_alpha, display.decay_beta) == pytest.approx((decay * strength, (1 - decay) * strength))
    # Channels with their own decay (the demo data config's overrides) are not moved by the default.
    assert low["google_search"].decay == high["google_search"].decay == 0.4


def test_adstock_fixed_pins_the_default_carryover_prior(make_cfg, national):
    free = _priors(make_cfg, national, "features.adstock.fixed=false")["google_display"]
    pinned = _priors(make_cfg, national, "features.adstock.fixed=true")["google_display"]
    assert (free.decay_fixed, pinned.decay_fixed) == (False, True)
    assert free.decay_alpha + free.decay_beta == pytest.approx(10.0)
    assert pinned.decay_alpha + pinned.decay_beta == pytest.approx(FIXED_STRENGTH)
    assert free.decay == pinned.decay == 0.6


def test_default_roi_mu_and_sigma_are_the_prior_of_channels_without_bounds(make_cfg, national):
    meridian = _priors(make_cfg, national, "model.priors.default_roi.mu=0.2", "model.priors.default_roi.sigma=0.9")
    custom = _priors(make_cfg, national, "model.priors.default_roi.mu=0.7", "model.priors.default_roi.sigma=0.4")
    assert (meridian["google_display"].roi_mu, meridian["google_display"].roi_sigma) == (0.2, 0.9)
    assert (custom["google_display"].roi_mu, custom["google_display"].roi_sigma) == (0.7, 0.4)
    assert custom["google_display"].roi_source == "default"
    # A channel with roi_bounds keeps its own prior.
    assert custom["google_search"].roi_mu == meridian["google_search"].roi_mu
    assert custom["google_search"].roi_source == "roi_bounds"


def test_geo_knot_every_weeks_sets_the_knots_of_a_geo_model_left_on_meridians_default(make_cfg, geo):
    knots = {}
    for every in (8, 13):
        cfg = make_cfg("data=demo_geo", "features.seasonality.knot_every_weeks=null",
                       f"features.seasonality.geo_knot_every_weeks={every}")
        _, spec = build_features(geo, cfg)
        assert spec.n_weeks == 156
        assert f"one knot every {every} weeks" in spec.knots_reason
        knots[every] = spec.knots
    assert knots == {8: math.ceil(155 / 8) + 1, 13: math.ceil(155 / 13) + 1}  # 21 and 13
    # An explicit knot_every_weeks wins over it.
    _, spec = build_features(geo, make_cfg("data=demo_geo", "features.seasonality.knot_every_weeks=26",
                                           "features.seasonality.geo_knot_every_weeks=13"))
    assert spec.knots == math.ceil(155 / 26) + 1


def test_population_proxy_sets_the_geo_sizes(make_cfg, geo):
    expected = {
        "revenue": geo.groupby(cols.GEO)[cols.REVENUE].mean(),
        "spend": geo.assign(_s=geo[[c for c in geo.columns if c.endswith("_spend")]].sum(axis=1))
        .groupby(cols.GEO)["_s"].mean(),
    }
    sizes = {}
    for proxy in ("revenue", "spend", "ones"):
        inputs, spec = build_features(geo, make_cfg("data=demo_geo", f"model.population_proxy={proxy}"))
        sizes[proxy] = inputs.groupby(cols.GEO)[cols.POPULATION].first()
        assert f"model.population_proxy={proxy}" in spec.population_source
    assert sizes["ones"].tolist() == [1.0, 1.0]
    for proxy in ("revenue", "spend"):
        want = expected[proxy] / expected[proxy].max()
        assert sizes[proxy].to_dict() == pytest.approx(want.to_dict(), rel=1e-9)
        assert sizes[proxy].min() < 1.0
    assert sizes["revenue"].min() != pytest.approx(sizes["spend"].min(), rel=1e-3)


def test_custom_terms_is_a_future_extension_off_it_loads_on_it_is_refused(make_cfg):
    from mmm_meridian.errors import NotImplementedFeatureError

    assert make_cfg("features.custom_terms.enabled=false").features.custom_terms.enabled is False
    with pytest.raises(NotImplementedFeatureError) as info:
        make_cfg("features.custom_terms.enabled=true")
    assert info.value.one_line().startswith(
        "error: features.custom_terms is a future extension of the guide and is not implemented yet")
    assert info.value.where == "config key features.custom_terms.enabled"
    assert info.value.fix == "set features.custom_terms.enabled=false"
