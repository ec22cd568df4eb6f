"""Calibration with lift tests (issue 13's "done when"): on simulated data whose lift tests the simulator ran on its
own truth, the tested channels' ROI intervals narrow when the tests are used, and still cover the true ROI. Slow:
three national datasets, each fitted without and with its tests at the default preset (about 12 minutes on 2
cores). Figures: benchmarks/RESULTS.md, "Calibration with lift tests"."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_lift_tests_narrow_the_tested_channels_intervals_and_still_cover_the_truth():
    from benchmarks.calibration import TESTED, run_calibration

    channels = run_calibration(seeds=[1, 2, 3], kinds=["national"], preset="default")
    channels["width"] = (channels["roi_hi_90"] - channels["roi_lo_90"]) / channels["true_roi"]
    tested = channels[channels["channel"].isin(TESTED)]
    calibrated = tested[tested["variant"] == "calibrated"]
    uncalibrated = tested[tested["variant"] == "uncalibrated"]
    assert calibrated["covered"].all()  # every tested channel's 90 % interval still holds its true ROI
    # the tests narrow each tested channel's interval, on every dataset
    paired = calibrated.merge(uncalibrated, on=["seed", "channel"], suffixes=("_with", "_without"))
    assert (paired["width_with"] < 0.8 * paired["width_without"]).all(), paired[["seed", "channel", "width_with",
                                                                                  "width_without"]]
    # and the untested channels keep their coverage
    others = channels[~channels["channel"].isin(TESTED) & (channels["variant"] == "calibrated")]
    assert others["covered"].mean() >= 0.85
