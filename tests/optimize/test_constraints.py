"""Share bounds -> Meridian's relative spend constraints, feasibility checks, and the risk / guardrail helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.config.decisions import ChannelSpendBounds, PlatformConstraintsConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.optimize.constraints import (
    bounds_reach,
    check_current_mix,
    check_feasible,
    current_mix_breaches,
    feasible_centre,
    share_bounds,
    to_meridian,
    violations,
)
from mmm_meridian.optimize.risk import compare_plans, extrapolation

CHANNELS = ["search", "display", "video", "social"]


def meridian_bounds(constraints, budget):
    """Meridian's documented bounds: (1 - lower) x budget x pct and (1 + upper) x budget x pct."""
    centre = constraints.pct_of_spend * budget
    return (1 - constraints.spend_constraint_lower) * centre, (1 + constraints.spend_constraint_upper) * centre


@pytest.mark.parametrize("seed", range(6))
def test_translation_reproduces_the_share_bounds_exactly(seed):
    rng = np.random.default_rng(seed)
    historical = rng.uniform(1e4, 1e6, size=4)
    config = PlatformConstraintsConfig(min_spend_pct=0.1, max_spend_pct=0.45,
                                       channel_overrides={"video": ChannelSpendBounds(max_spend_pct=0.2)})
    bounds = share_bounds(config, CHANNELS)
    check_feasible(bounds, historical)
    translated = to_meridian(bounds, historical)
    budget = 1.7e6
    low, high = meridian_bounds(translated, budget)
    np.testing.assert_allclose(low, bounds.low * budget, rtol=1e-12)
    np.testing.assert_allclose(high, bounds.high * budget, rtol=1e-12)
    assert np.isclose(translated.pct_of_spend.sum(), 1.0)
    assert np.all((translated.spend_constraint_lower >= 0) & (translated.spend_constraint_lower <= 1))
    assert np.all(translated.spend_constraint_upper >= 0)


def test_overrides_and_scenario_bounds_are_applied_per_channel():
    config = PlatformConstraintsConfig(min_spend_pct=0.05, max_spend_pct=0.4,
                                       channel_overrides={"search": ChannelSpendBounds(min_spend_pct=0.2)})
    bounds = share_bounds(config, CHANNELS, min_pct=0.1, max_pct=0.5)
    assert bounds.as_dict() == {"search": [0.2, 0.5], "display": [0.1, 0.5], "video": [0.1, 0.5],
                                "social": [0.1, 0.5]}


def test_historical_mix_is_kept_as_centre_when_it_respects_the_bounds():
    historical = np.array([30.0, 30.0, 20.0, 20.0])
    translated = to_meridian(share_bounds(PlatformConstraintsConfig(0.05, 0.4), CHANNELS), historical)
    assert translated.centre_is_historical
    np.testing.assert_allclose(translated.pct_of_spend, historical / historical.sum())


def test_centre_moves_inside_the_bounds_when_the_history_breaks_them():
    share = np.array([0.7, 0.2, 0.08, 0.02])
    low, high = np.full(4, 0.05), np.full(4, 0.4)
    centre = feasible_centre(share, low, high)
    assert np.isclose(centre.sum(), 1.0)
    assert np.all(centre >= low - 1e-12) and np.all(centre <= high + 1e-12)
    assert centre[0] == pytest.approx(0.4)
    translated = to_meridian(share_bounds(PlatformConstraintsConfig(0.05, 0.4), CHANNELS), share * 1e6)
    assert not translated.centre_is_historical
    lo, hi = meridian_bounds(translated, 1e6)
    np.testing.assert_allclose(lo, 0.05e6)
    np.testing.assert_allclose(hi, 0.4e6)


@pytest.mark.parametrize(("config", "historical", "message"), [
    (PlatformConstraintsConfig(0.3, 0.5), [1.0, 1.0, 1.0, 1.0], "minimum shares add up to 120.0%"),
    (PlatformConstraintsConfig(0.05, 0.2), [1.0, 1.0, 1.0, 1.0], "maximum shares add up to 80.0%"),
    (PlatformConstraintsConfig(0.05, 0.4), [1.0, 1.0, 1.0, 0.0], "no historical spend"),
])
def test_infeasible_bounds_are_refused_before_optimising(config, historical, message):
    bounds = share_bounds(config, CHANNELS)
    with pytest.raises(ConfigError, match=message) as caught:
        check_feasible(bounds, historical)
    assert "optimization.platform_constraints" in caught.value.where
    assert caught.value.fix


def test_unknown_channel_override_is_refused():
    config = PlatformConstraintsConfig(channel_overrides={"tv": ChannelSpendBounds(min_spend_pct=0.1)})
    with pytest.raises(ConfigError, match=r"unknown channel\(s\) \['tv'\]"):
        share_bounds(config, CHANNELS)


def test_violations_measure_distance_outside_the_bounds():
    bounds = share_bounds(PlatformConstraintsConfig(0.1, 0.4), CHANNELS)
    plan = {"search": 450.0, "display": 50.0, "video": 250.0, "social": 250.0}
    assert violations(plan, bounds, 1000.0) == pytest.approx({"search": 50.0, "display": 50.0, "video": 0.0,
                                                              "social": 0.0})


def test_compare_plans_is_paired_across_draws():
    rng = np.random.default_rng(0)
    current = rng.normal(100.0, 20.0, size=4000)
    recommended = current + rng.normal(5.0, 5.0, size=4000)
    result = compare_plans(current, recommended, 0.9)
    lift = recommended - current
    assert result["prob_beats_current"] == pytest.approx(np.mean(lift > 0))
    assert result["lift_lo"] == pytest.approx(np.quantile(lift, 0.05))
    assert result["lift_hi"] == pytest.approx(np.quantile(lift, 0.95))
    assert result["lift_pct"] == pytest.approx(lift.mean() / current.mean() * 100)


def test_extrapolation_flags_plans_beyond_the_observed_weeks():
    weekly = pd.DataFrame({"a": [0.0, 10.0, 20.0, 30.0], "b": [10.0, 10.0, 12.0, 8.0], "c": [5.0, 5.0, 5.0, 5.0]})
    current = {"a": 60.0, "b": 40.0, "c": 20.0}
    flags = extrapolation(weekly, current, {"a": 120.0, "b": 20.0, "c": 20.0}).set_index("channel")
    assert flags.loc["a", "scale"] == pytest.approx(2.0)
    assert flags.loc["a", "planned_mean_week"] == pytest.approx(40.0)
    assert flags.loc["a", "extrapolation"] == "above observed range"  # typical week 40 > largest week 30
    assert flags.loc["b", "extrapolation"] == "below observed range"  # typical week 5 < smallest week 8
    assert flags.loc["c", "extrapolation"] == ""


# The real Conjura apparel brand's mix: one channel with 64 % of spend, several under 5 %.
CONJURA = {"meta_facebook": 0.644, "meta_instagram": 0.233, "google_pmax": 0.077, "google_search": 0.019,
           "google_video": 0.017, "google_display": 0.007, "google_shopping": 0.003, "meta_other": 0.0005}


def test_ratio_bounds_follow_each_channel_and_tighten_the_shares():
    share = np.array([0.6, 0.3, 0.1, 0.0])
    config = PlatformConstraintsConfig(min_spend_pct=0.0, max_spend_pct=0.5, min_spend_ratio=0.5,
                                       max_spend_ratio=1.5,
                                       channel_overrides={"video": ChannelSpendBounds(max_spend_ratio=3.0)})
    bounds = share_bounds(config, CHANNELS, current_share=share)
    np.testing.assert_allclose(bounds.low, [0.3, 0.15, 0.05, 0.0])
    np.testing.assert_allclose(bounds.high, [0.5, 0.45, 0.3, 0.0])  # search capped by the 50 % share
    # Without ratio bounds the same config gives plain shares.
    plain = share_bounds(PlatformConstraintsConfig(0.0, 0.5), CHANNELS, current_share=share)
    np.testing.assert_allclose(plain.high, [0.5] * 4)


def test_ratio_bounds_that_cross_the_share_bounds_are_refused_naming_the_channel():
    config = PlatformConstraintsConfig(min_spend_pct=0.2, max_spend_pct=1.0, max_spend_ratio=1.5)
    with pytest.raises(ConfigError, match="channel video gets a minimum share of 20.00% above its maximum 15.00%"):
        share_bounds(config, CHANNELS, current_share=np.array([0.5, 0.4, 0.1, 0.0]))


def test_the_current_mix_outside_the_share_bounds_is_named_channel_by_channel():
    channels = list(CONJURA)
    historical = np.array(list(CONJURA.values())) * 1e9
    bounds = share_bounds(PlatformConstraintsConfig(), channels, current_share=historical / historical.sum())
    breaches = current_mix_breaches(bounds, historical)
    assert [b.channel for b in breaches] == ["meta_facebook", "google_search", "google_video", "google_display",
                                             "google_shopping", "meta_other"]
    assert breaches[0].side == "above" and breaches[-1].side == "below"
    with pytest.raises(ConfigError) as caught:
        check_current_mix(bounds, historical, "fail")
    message = caught.value.message
    assert "meta_facebook holds 64.4% of spend, above its maximum 40.0% (0.62x its spend)" in message
    assert "meta_other holds 0.05% of spend, below its minimum 5.0% (100x its spend)" in message
    assert "min_spend_ratio=0.5" in caught.value.fix and "on_current_mix_outside=warn" in caught.value.fix
    assert [b.channel for b in check_current_mix(bounds, historical, "warn")] == [b.channel for b in breaches]
    # Ratio bounds always contain today's mix.
    relative = share_bounds(PlatformConstraintsConfig(0.0, 1.0, 0.5, 1.5), channels,
                            current_share=historical / historical.sum())
    assert check_current_mix(relative, historical, "fail") == []


def test_bounds_that_force_spend_beyond_any_observed_week_are_flagged():
    historical = np.array([0.9, 0.1]) * 1e6
    bounds = share_bounds(PlatformConstraintsConfig(min_spend_pct=0.3, max_spend_pct=1.0), ["big", "small"],
                          current_share=historical / historical.sum())
    reach = bounds_reach(bounds, historical, weekly_max_over_mean=[1.5, 2.0])
    assert [r.forces_extrapolation for r in reach] == [False, True]
    assert reach[1].min_scale == pytest.approx(3.0) and reach[1].max_scale == pytest.approx(10.0)
    assert "at least 3x its current spend, while its largest week was 2x its average week" in reach[1].describe()
