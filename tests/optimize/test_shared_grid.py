"""The optimize stage's shared Meridian grid: its resolution."""

from __future__ import annotations

import pytest


def test_the_shared_grid_has_the_smallest_scenarios_resolution(make_cfg):
    """Meridian's spend step is the power of ten above gtol x the grid's budget: a grid built at the +20 % scenario's
    budget with the configured gtol could be 10x coarser than the current budget's own (Conjura: 10M steps, three
    small channels cut to 0). The grid's tolerance is the smallest scenario's."""
    import numpy as np

    from mmm_meridian.optimize.stage import build_shared_grid, fixed_budget_requests

    class Recorder:
        def shared_grid(self, mmm, historical, highest, budget, gtol):
            self.budget, self.gtol = budget, gtol
            return "grid"

    opt = make_cfg().optimization
    channels = ["google_search", "google_display", "google_video", "meta_facebook", "meta_instagram", "tiktok"]
    historical = np.array([300.0, 100.0, 100.0, 250.0, 150.0, 100.0]) * 1e6
    engine = Recorder()
    assert build_shared_grid(engine, None, opt, channels, historical) == "grid"
    budgets = [r.budget for r in fixed_budget_requests(opt, channels, historical)]
    assert engine.budget == max(budgets) and min(budgets) < max(budgets)
    assert engine.gtol * engine.budget == pytest.approx(opt.gtol * min(budgets))
