"""Seasonality features: Fourier terms, holidays for known dates, custom events, knots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.config.modeling import CustomEvent, HolidaysConfig, SeasonalityConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.features.seasonality import (
    choose_knots,
    event_features,
    fourier_terms,
    holiday_features,
    time_features,
)

WEEKS = pd.date_range("2022-01-03", periods=156, freq="7D")


def test_us_holidays_land_in_the_right_weeks():
    frame, sources = holiday_features(WEEKS, HolidaysConfig(country="US", separate=["Christmas", "Independence"]))
    week_of = lambda day: frame.loc[pd.Timestamp(day) - pd.Timedelta(days=pd.Timestamp(day).dayofweek)]  # noqa: E731
    assert week_of("2023-07-04")["holiday_days"] >= 1  # Independence Day, a Tuesday
    assert week_of("2023-07-04")["holiday_independence"] == 1
    assert week_of("2023-12-25")["holiday_christmas"] == 1
    assert week_of("2023-03-15")["holiday_days"] == 0
    # 2022-12-25 was a Sunday, observed on Monday 26th: four Christmas weeks in three years.
    assert frame["holiday_christmas"].sum() == 4
    assert any("2023-07-04" in entry for entry in sources["holiday_independence"])


def test_country_and_subdivision_are_configurable():
    frame, _ = holiday_features(WEEKS, HolidaysConfig(country="GB", subdivision="ENG"))
    assert frame.loc[pd.Timestamp("2023-08-28"), "holiday_days"] == 1  # Summer bank holiday (England), a Monday


def test_unknown_country_is_a_config_error():
    with pytest.raises(ConfigError, match="does not know country='XX'"):
        holiday_features(WEEKS, HolidaysConfig(country="XX"))


def test_fourier_terms_repeat_every_year():
    frame = fourier_terms(WEEKS, 2)
    assert list(frame.columns) == ["annual_sin_1", "annual_cos_1", "annual_sin_2", "annual_cos_2"]
    assert np.abs(frame.iloc[0] - frame.iloc[52]).max() < 0.05  # same calendar week a year later
    assert frame.abs().max().max() <= 1.0


def test_custom_events_days_and_ranges():
    events = [CustomEvent(name="Black Friday", dates=["2022-11-25", "2023-11-24/2023-11-27"])]
    frame = event_features(WEEKS, events)
    hits = frame.index[frame["event_black_friday"] == 1].strftime("%Y-%m-%d").tolist()
    assert hits == ["2022-11-21", "2023-11-20", "2023-11-27"]


def test_knots_for_geo_model_with_time_controls_are_chosen_and_explained():
    knots, reason = choose_knots(156, 4, SeasonalityConfig(knot_every_weeks=None), has_time_only_controls=True)
    assert knots == 21 and "collinear" in reason
    assert choose_knots(156, 1, SeasonalityConfig(knot_every_weeks=None), True)[0] is None
    assert choose_knots(156, 1, SeasonalityConfig(knot_every_weeks=26), True)[0] == 7


def test_trend_becomes_a_control_only_with_a_single_knot():
    single = time_features(WEEKS, 1, SeasonalityConfig(knot_every_weeks=None, holidays=HolidaysConfig(enabled=False)),
                           trend=True)
    assert "trend" in single.frame and single.frame["trend"].iloc[-1] == 1.0
    knotted = time_features(WEEKS, 1, SeasonalityConfig(knot_every_weeks=26), trend=True)
    assert "trend" not in knotted.frame and "knots" in knotted.terms["trend"]["note"]


def test_trend_off_gives_a_flat_baseline_with_one_knot_and_keeps_seasonality():
    on = time_features(WEEKS, 1, SeasonalityConfig(knot_every_weeks=26), trend=True)
    off = time_features(WEEKS, 1, SeasonalityConfig(knot_every_weeks=26), trend=False)
    assert on.knots == 7 and on.trend == {"enabled": True, "how": "spanned by Meridian's piecewise-linear knots (7)"}
    assert off.knots == 1  # a single knot: Meridian's intercept is constant over time
    assert off.trend["enabled"] is False and off.trend["how"].startswith("none")
    assert "features.baseline.trend=false" in off.knots_reason and "knot_every_weeks=26 not used" in off.knots_reason
    assert "trend" not in off.frame and "trend" not in off.terms  # and no linear trend control in its place
    # Seasonality is still modelled, by the same calendar controls as with the trend.
    assert list(off.frame.columns) == list(on.frame.columns)
    assert {"annual_sin_1", "annual_cos_1", "holiday_days"} <= set(off.frame.columns)
    pd.testing.assert_frame_equal(off.frame, on.frame)
    # A geo model too (its default would be one knot per 8 weeks).
    geo = time_features(WEEKS, 4, SeasonalityConfig(knot_every_weeks=None), trend=False)
    assert geo.knots == 1 and "trend" not in geo.frame


def test_weekly_seasonality_is_refused_at_config_load():
    assert SeasonalityConfig(weekly=False).weekly is False
    with pytest.raises(ConfigError) as info:
        SeasonalityConfig(weekly=True)
    message = info.value.one_line()
    assert "features.seasonality.weekly=true" in message and "day-of-week" in message
    assert info.value.where == "config key features.seasonality.weekly"
    assert "set features.seasonality.weekly=false" in info.value.fix
