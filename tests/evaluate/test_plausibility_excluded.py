"""The plausibility gate's revenue figures leave the placeholder-KPI weeks (kpi_long_gaps=exclude) out."""

from __future__ import annotations

import pandas as pd
import pytest

from mmm_meridian.config.modeling import PlausibilityConfig
from mmm_meridian.train import plausibility

WEEKS = pd.date_range("2024-01-01", periods=10, freq="7D")


def inputs() -> pd.DataFrame:
    return pd.DataFrame({"time": WEEKS, "geo": "national", "revenue": [100.0] * 6 + [900.0] * 4,
                         "tv__spend": [10.0] * 10, "search__spend": [0.0] * 6 + [5.0] * 4})


def roi() -> pd.DataFrame:
    return pd.DataFrame({"channel": ["tv", "search"], "spend": [100.0, 20.0], "incremental_revenue": [150.0, 40.0],
                         "roi_mean": [1.5, 2.0]})


def test_excluded_weeks_figures_measure_placeholder_revenue_and_media_there():
    weeks = [w.strftime("%Y-%m-%d") for w in WEEKS[6:]]
    figures = plausibility.excluded_weeks_figures(inputs(), {"national": weeks}, roi())
    assert figures.weeks == 4
    assert figures.placeholder_revenue == 3600.0
    assert figures.media_revenue == {"tv": 1.5 * 40.0, "search": 2.0 * 20.0}


def test_judge_takes_placeholder_weeks_out_of_both_sides_of_every_share():
    limits = PlausibilityConfig(max_media_share=0.8, max_channel_share=0.5)
    total = float(inputs()["revenue"].sum())  # 4200, of which 3600 is placeholder
    naive = plausibility.judge(roi(), total, None, {}, limits)
    assert naive.media_share == pytest.approx(190.0 / 4200.0) and naive.passed
    weeks = [w.strftime("%Y-%m-%d") for w in WEEKS[6:]]
    excluded = plausibility.excluded_weeks_figures(inputs(), {"national": weeks}, roi())
    honest = plausibility.judge(roi(), total, None, {}, limits, excluded=excluded)
    # Real weeks: revenue 600; media 150 - 60 (tv) + 40 - 40 (search) = 90.
    assert honest.total_revenue == 600.0 and honest.excluded_revenue == 3600.0 and honest.excluded_weeks == 4
    assert honest.media_revenue == pytest.approx(90.0)
    assert honest.media_share == pytest.approx(0.15)
    assert honest.channel_share == pytest.approx({"tv": 0.15, "search": 0.0})
    assert honest.passed


def test_a_share_hidden_by_placeholder_revenue_fails_once_it_is_left_out():
    limits = PlausibilityConfig(max_media_share=0.8, max_channel_share=0.5)
    big = roi().assign(incremental_revenue=[560.0, 40.0], roi_mean=[5.0, 2.0])
    weeks = [w.strftime("%Y-%m-%d") for w in WEEKS[6:]]
    excluded = plausibility.excluded_weeks_figures(inputs(), {"national": weeks}, big)
    assert plausibility.judge(big, 4200.0, None, {}, limits).passed  # 560 / 4200 = 13 %: looks fine
    verdict = plausibility.judge(big, 4200.0, None, {}, limits, excluded=excluded)
    assert verdict.channel_share["tv"] == pytest.approx((560.0 - 5.0 * 40.0) / 600.0)  # 60 %
    assert not verdict.passed
    assert [(c.name, c.channel) for c in verdict.checks if not c.passed] == [("channel_share", "tv")]


def test_excluded_rows_match_geo_and_week_or_the_week_alone():
    from mmm_meridian.frame import excluded_rows

    table = pd.DataFrame({"time": ["2024-01-01", "2024-01-08", "2024-01-08"], "geo": ["GB", "GB", "US"]})
    assert excluded_rows(table, {"GB": ["2024-01-08"]}).tolist() == [False, True, False]
    assert excluded_rows(table, {"GB": ["2024-01-08"]}, any_geo=True).tolist() == [False, True, True]
