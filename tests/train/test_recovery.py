"""Parameter recovery (issue 4's "done when"): production preset, national and geo, three seeds, against bare
Meridian's defaults on the same data. Slow: about an hour on a 2-core CPU (two fits at a time)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_production_preset_recovers_true_roi_no_worse_than_bare_meridian():
    from benchmarks.recovery import run_recovery

    channels, summary = run_recovery(seeds=[1, 2, 3], kinds=["national", "geo"], preset="production", jobs=2)
    ours = channels[channels["variant"] == "pipeline"]
    bare = channels[channels["variant"] == "bare"]
    assert ours["covered"].mean() >= 0.85
    # "No worse than bare Meridian": coverage at least as high, and a mean absolute relative ROI error not above
    # bare's (the median of 18 channels moves by +-0.05 between seeds; the mean also sees the large misses).
    assert ours["covered"].mean() >= bare["covered"].mean()
    assert ours["abs_rel_error"].mean() <= bare["abs_rel_error"].mean() * 1.05
    assert (summary.loc[summary["variant"] == "pipeline", "max_rhat"] <= 1.1).all()  # every pipeline fit converged
