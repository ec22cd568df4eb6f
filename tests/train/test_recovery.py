"""Parameter recovery (issue 4's "done when"): production preset, national and geo, three seeds. Slow: hours on CPU."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_production_preset_recovers_true_roi_no_worse_than_bare_meridian():
    from benchmarks.recovery import run_recovery

    channels, _ = run_recovery(seeds=[1, 2, 3], kinds=["national", "geo"], preset="production")
    ours = channels[channels["variant"] == "pipeline"]
    bare = channels[channels["variant"] == "bare"]
    assert ours["covered"].mean() >= 0.85
    assert ours["abs_rel_error"].median() <= bare["abs_rel_error"].median() * 1.05
