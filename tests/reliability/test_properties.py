"""Property-based tests (hypothesis) of the weekly aggregation in :func:`mmm_meridian.tables.weekly.to_weekly`."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmm_meridian import frame as F
from mmm_meridian.config import load_config
from mmm_meridian.config.data import Frequency, WeekStart
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.tables.weekly import to_weekly

CHANNELS = ("google_search", "tiktok")  # channels of the demo's channel_map
ADDITIVE = [F.REVENUE, *(F.spend(c) for c in CHANNELS)]
WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=1)
def _demo_config() -> MMMConfig:
    return load_config([])


def _config(min_days: int, week_start: str, frequency: str = "auto") -> MMMConfig:
    """The demo config with other weekly-grain settings (composed once: Hydra takes ~1 s per compose)."""
    cfg = copy.deepcopy(_demo_config())
    cfg.data.min_days_per_week = min_days
    cfg.data.week_start = WeekStart(week_start)
    cfg.data.frequency = Frequency(frequency)
    return cfg


amounts = st.one_of(st.floats(0, 1e6, allow_nan=False, allow_infinity=False), st.just(np.nan))


@st.composite
def daily_tables(draw: st.DrawFn) -> pd.DataFrame:
    """1-3 geos of consecutive days (8-60, random start) with non-negative amounts and some missing values."""
    frames = []
    for g in range(draw(st.integers(1, 3))):
        days = draw(st.integers(8, 60))
        start = pd.Timestamp("2023-01-01") + pd.Timedelta(days=draw(st.integers(0, 13)))
        rows = {F.TIME: pd.date_range(start, periods=days, freq="D"), F.GEO: f"g{g}"}
        for column in ADDITIVE:
            rows[column] = draw(st.lists(amounts, min_size=days, max_size=days))
        frames.append(pd.DataFrame(rows))
    return pd.concat(frames, ignore_index=True)


def _week_of(times: pd.Series, week_start: str) -> pd.Series:
    anchor = WEEKDAYS.index(week_start)
    return times - pd.to_timedelta((times.dt.weekday - anchor) % 7, unit="D")


@PROPERTY_SETTINGS
@given(daily_tables(), st.sampled_from(WEEKDAYS))
def test_daily_to_weekly_preserves_totals_per_geo_and_channel(std: pd.DataFrame, week_start: str) -> None:
    weekly, info = to_weekly(std, _config(1, week_start))  # keep partial weeks: nothing may be lost
    assert info["input_frequency"] == "daily" and info["dropped_partial_weeks"] == []
    assert (weekly[F.TIME].dt.weekday == WEEKDAYS.index(week_start)).all()
    assert not weekly.duplicated([F.GEO, F.TIME]).any()
    for column in ADDITIVE:
        before = std.groupby(F.GEO)[column].sum()
        after = weekly.groupby(F.GEO)[column].sum()
        np.testing.assert_allclose(after.reindex(before.index).to_numpy(), before.to_numpy(), rtol=1e-9, atol=1e-6)


@PROPERTY_SETTINGS
@given(daily_tables(), st.sampled_from(WEEKDAYS))
def test_partial_edge_weeks_are_dropped_whole_and_the_rest_kept(std: pd.DataFrame, week_start: str) -> None:
    weekly, info = to_weekly(std, _config(7, week_start))
    week = _week_of(std[F.TIME], week_start)
    days = std.assign(_week=week).groupby([F.GEO, "_week"])[F.TIME].nunique()
    kept = {(g, t) for g, t in weekly[[F.GEO, F.TIME]].itertuples(index=False)}
    for (geo, start), count in days.items():
        first, last = days.loc[geo].index.min(), days.loc[geo].index.max()
        # Only a short week at either end of a series may go; a full or inner week never does.
        assert ((geo, start) in kept) == (count >= 7 or start not in (first, last)), (geo, start, count)
    assert len(info["dropped_partial_weeks"]) == len(days) - len(kept)
    for column in ADDITIVE:
        expected = std.assign(_week=week).groupby([F.GEO, "_week"])[column].sum(min_count=1)
        got = weekly.set_index([F.GEO, F.TIME])[column]
        np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(), rtol=1e-9, atol=1e-6)


@PROPERTY_SETTINGS
@given(daily_tables())
def test_a_week_without_any_value_stays_missing(std: pd.DataFrame) -> None:
    """Aggregation must never turn a week of missing values into an observed zero."""
    weekly, _ = to_weekly(std, _config(1, "MON"))
    week = _week_of(std[F.TIME], "MON")
    for column in ADDITIVE:
        observed = std.assign(_week=week).groupby([F.GEO, "_week"])[column].count()
        got = weekly.set_index([F.GEO, F.TIME])[column].reindex(observed.index)
        assert (got.isna() == (observed == 0)).all(), column


@PROPERTY_SETTINGS
@given(daily_tables())
def test_weekly_input_is_passed_through_unchanged(std: pd.DataFrame) -> None:
    """Rows already one per week (Mondays) come out with the same values."""
    weekly_in = std.assign(**{F.TIME: _week_of(std[F.TIME], "MON")}).drop_duplicates([F.GEO, F.TIME])
    weekly, info = to_weekly(weekly_in.reset_index(drop=True), _config(7, "MON", "weekly"))
    assert info["input_frequency"] == "weekly" and info["dropped_partial_weeks"] == []
    expected = weekly_in.sort_values([F.GEO, F.TIME]).reset_index(drop=True)
    pd.testing.assert_frame_equal(weekly[[F.GEO, F.TIME, *ADDITIVE]], expected[[F.GEO, F.TIME, *ADDITIVE]],
                                  check_dtype=False)
