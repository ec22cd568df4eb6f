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
    assert ours["abs_rel_error"].median() <= bare["abs_rel_error"].median() * 1.05
    assert (summary.loc[summary["variant"] == "pipeline", "max_rhat"] <= 1.1).all()  # every pipeline fit converged
