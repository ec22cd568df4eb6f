"""Lift tests into ROI priors: each test's spend and ROI from the clean table, the combined LogNormal prior."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import ChannelPriors, ExperimentInput
from mmm_meridian.features.calibration import (
    calibrate_priors,
    combine,
    lognormal_from_mean_sd,
    resolve_experiments,
)
from mmm_meridian.features.priors import channel_priors
from mmm_meridian.tables import experiments as ex

CHANNELS = ["google_search", "google_display", "google_video", "meta_facebook", "meta_instagram", "tiktok"]
WEEKS = pd.date_range("2023-01-02", periods=12, freq="7D")


def _clean(geos: list[str]) -> pd.DataFrame:
    frames = []
    for g, geo in enumerate(geos):
        frame = pd.DataFrame({F.TIME: WEEKS, F.GEO: geo, F.REVENUE: 1000.0})
        for c, channel in enumerate(CHANNELS):
            frame[F.spend(channel)] = 10.0 * (c + 1) * (g + 1) + np.arange(len(WEEKS))  # week w: base + w
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


CSV = """channel,start,end,geo,roi,roi_se,incremental_revenue,incremental_revenue_se
google_search,2023-01-04,2023-01-17,,2.0,0.5,,
meta_facebook,2023-01-30,2023-02-12,US,,,500,100
google_search,2023-02-13,2023-02-26,GB,1.0,0.25,,
"""


def test_resolved_tests_have_their_weeks_spend_and_roi(cfg, tmp_path):
    path = tmp_path / "tests.csv"
    path.write_text(CSV, encoding="utf-8")
    rows, _ = ex.read_experiments(str(path))
    clean = _clean(["GB", "US"])
    resolved = resolve_experiments(rows, clean, cfg)
    first, second, third = resolved
    # Wednesday 01-04 to Tuesday 01-17 touches the weeks of 01-02, 01-09 and 01-16; national: both geos' spend.
    assert (first.start, first.end, first.geo) == ("2023-01-02", "2023-01-16", None)
    assert first.spend == pytest.approx((10 + 0) + (10 + 1) + (10 + 2) + (20 + 0) + (20 + 1) + (20 + 2))
    assert (first.roi, first.roi_se, first.measured, first.incremental_revenue) == (2.0, 0.5, "roi", None)
    # meta_facebook is channel 4: spend 40 (GB) / 80 (US) + the week's index; US weeks 4 and 5.
    assert (second.start, second.end, second.geo) == ("2023-01-30", "2023-02-06", "US")
    assert second.spend == pytest.approx(80 + 4 + 80 + 5)
    assert second.roi == pytest.approx(500 / 169) and second.roi_se == pytest.approx(100 / 169)
    assert (second.incremental_revenue, second.incremental_revenue_se, second.measured) == (500.0, 100.0,
                                                                                          "incremental_revenue")
    assert third.row == 3 and third.spend == pytest.approx(10 + 6 + 10 + 7)
    assert resolved == resolve_experiments(ex.parse_inline([
        {"channel": "google_search", "start": "2023-01-04", "end": "2023-01-17", "roi": 2.0, "roi_se": 0.5},
        {"channel": "meta_facebook", "start": "2023-01-30", "end": "2023-02-12", "geo": "US",
         "incremental_revenue": 500, "incremental_revenue_se": 100},
        {"channel": "google_search", "start": "2023-02-13", "end": "2023-02-26", "geo": "GB", "roi": "1.0",
         "roi_se": "0.25"}]), clean, cfg)


def test_a_test_without_spend_in_the_clean_table_is_refused(cfg):
    clean = _clean(["national"])
    clean.loc[clean[F.TIME] <= "2023-01-09", F.spend("tiktok")] = 0.0
    rows = ex.parse_inline([{"channel": "tiktok", "start": "2023-01-02", "end": "2023-01-15", "roi": 1, "roi_se": 1}])
    with pytest.raises(DataError, match="experiment row 1: channel 'tiktok' has no spend in the cleaned data"):
        resolve_experiments(rows, clean, cfg)


def test_the_lognormal_matches_meridians_from_mean_and_std():
    from meridian.model import prior_distribution  # Meridian only here: the features stage never imports it

    for mean, sd in [(1.6, 0.4), (0.3, 0.9), (12.0, 0.05)]:
        mu, sigma = lognormal_from_mean_sd(mean, sd)
        theirs = prior_distribution.lognormal_dist_from_mean_std(mean, sd)
        np.testing.assert_allclose([mu, sigma], [float(theirs.loc), float(theirs.scale)], rtol=1e-6)
        np.testing.assert_allclose([float(theirs.mean()), float(theirs.stddev())], [mean, sd], rtol=1e-5)
    with pytest.raises(ValueError):
        lognormal_from_mean_sd(-1.0, 0.5)


def _test(row: int, channel: str, roi: float, roi_se: float, start: str, end: str,
          geo: str | None = None) -> ExperimentInput:
    return ExperimentInput(row=row, channel=channel, start=start, end=end, geo=geo, roi=roi, roi_se=roi_se,
                           measured="roi", spend=100.0)


def test_inverse_variance_combination():
    roi, se = combine([_test(1, "a", 2.0, 0.5, "2023-01-02", "2023-01-16"),
                       _test(2, "a", 1.0, 0.25, "2023-02-13", "2023-02-20")])
    # weights 1/0.25 = 4 and 1/0.0625 = 16: (4 * 2 + 16 * 1) / 20 = 1.2, standard error 1 / sqrt(20).
    assert roi == pytest.approx(1.2) and se == pytest.approx(1 / math.sqrt(20))
    assert combine([_test(1, "a", 2.0, 0.5, "2023-01-02", "2023-01-16")]) == (2.0, 0.5)


def _priors(make_cfg) -> list[ChannelPriors]:
    """The demo's priors, google_search from roi_bounds [1, 3] and meta_facebook from the default ROI prior."""
    cfg = make_cfg("model.priors.roi_bounds.google_search=[1.0,3.0]")
    priors = [channel_priors(channel, cfg.features, cfg.model) for channel in CHANNELS]
    default = cfg.model.priors.default_roi
    priors[3] = dataclasses.replace(priors[3], roi_mu=default.mu, roi_sigma=default.sigma, roi_source="default",
                                    roi_bounds=None)
    return priors


def test_calibrated_priors_replace_roi_bounds_and_say_so(make_cfg, caplog):
    priors = _priors(make_cfg)
    tests = [_test(1, "google_search", 2.0, 0.5, "2023-01-02", "2023-01-16"),
             _test(3, "google_search", 1.0, 0.25, "2023-02-13", "2023-02-20", geo="GB"),
             _test(2, "meta_facebook", 3.0, 0.6, "2023-01-30", "2023-02-06")]
    with caplog.at_level(logging.INFO, logger="mmm_meridian.features.calibration"):
        out = calibrate_priors(priors, tests)
    search, facebook = out[0], out[3]
    mu, sigma = lognormal_from_mean_sd(1.2, 1 / math.sqrt(20))
    assert (search.roi_mu, search.roi_sigma) == pytest.approx((mu, sigma))
    # The LogNormal's own mean and sd are the combined ROI and its standard error.
    assert math.exp(mu + sigma ** 2 / 2) == pytest.approx(1.2)
    assert math.sqrt((math.exp(sigma ** 2) - 1) * math.exp(2 * mu + sigma ** 2)) == pytest.approx(1 / math.sqrt(20))
    assert search.roi_source == "experiment" and search.roi_experiments == [1, 3]
    assert search.roi_window == [["2023-01-02", "2023-01-16"], ["2023-02-13", "2023-02-20"]]
    assert search.uncalibrated_roi == [priors[0].roi_mu, priors[0].roi_sigma] and search.roi_bounds == [1.0, 3.0]
    assert (facebook.roi_source, facebook.roi_experiments, facebook.uncalibrated_roi) == (
        "experiment", [2], [priors[3].roi_mu, priors[3].roi_sigma])
    assert (facebook.roi_mu, facebook.roi_sigma) == pytest.approx(lognormal_from_mean_sd(3.0, 0.6))
    for untouched in (1, 2, 4, 5):
        assert out[untouched] == priors[untouched]
    assert search.decay == priors[0].decay and search.k == priors[0].k  # only the ROI prior changes
    messages = [r.getMessage() for r in caplog.records]
    assert any("google_search ROI prior" in m and "row(s) [1, 3]" in m and "replaces model.priors.roi_bounds "
               "[1.0, 3.0]" in m for m in messages), messages
    assert any("meta_facebook ROI prior" in m and "replaces the default ROI prior LogNormal(0.2, 0.9)" in m
               for m in messages), messages
    assert any("google_search has geo test(s) (row(s) [3] in ['GB'])" in m and "by time only" in m
               and "across every geo" in m for m in messages), messages
    assert len(messages) == 3
    assert ChannelPriors.from_dict(search.to_dict()) == search  # feature_spec.json round trip


def test_no_experiments_leaves_the_priors_alone_and_an_unknown_channel_is_a_bug(make_cfg):
    priors = _priors(make_cfg)
    assert calibrate_priors(priors, []) == priors
    with pytest.raises(ValueError, match="tv"):
        calibrate_priors(priors, [_test(1, "tv", 1.0, 0.2, "2023-01-02", "2023-01-02")])
