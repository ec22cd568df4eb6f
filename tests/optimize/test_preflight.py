"""The budget bounds are checked against today's spend mix at start-up: a bad combination stops in seconds, before
the model is trained, with one line naming the channel and the numbers."""

from __future__ import annotations

import subprocess
import sys

from tests.reliability.helpers import artifacts, assert_refused, run_mmm


def test_run_stops_before_training_when_the_current_mix_breaks_the_bounds(tmp_path):
    # The demo's google_display holds 11.5 % and tiktok 9.3 % of spend: a 15 % minimum excludes today's mix.
    proc = run_mmm("run", tmp_path, None, "optimization.platform_constraints.min_spend_pct=0.15", timeout=300)
    line = assert_refused(proc, [["current spend mix breaks the budget bounds"], ["tiktok holds 9.3% of spend"],
                                 ["min_spend_ratio"]])
    assert line.startswith("error: optimize: the current spend mix breaks the budget bounds")
    assert "google_display holds 11.5% of spend, below its minimum 15.0% (1.3x its spend)" in line
    root = artifacts(tmp_path)
    assert (root / "transform" / "manifest.json").is_file()  # checked as soon as today's spend is known ...
    assert not (root / "train").exists()  # ... so refused before the fit, not after it


def test_share_bounds_no_plan_can_meet_are_refused_before_any_stage_runs(tmp_path):
    proc: subprocess.CompletedProcess[str] = run_mmm("run", tmp_path, None,
                                                     "optimization.platform_constraints.max_spend_pct=0.15")
    line = assert_refused(proc, [["maximum budget shares of the 6 mapped channels add up to 90%"]])
    assert line.startswith("error: optimize: ") and "max_spend_pct to at least 0.17" in line
    assert not (artifacts(tmp_path) / "ingest").exists()
    # A stage that never optimises is not held up by the optimizer's bounds.
    assert run_mmm("ingest", tmp_path, None, "optimization.platform_constraints.max_spend_pct=0.15").returncode == 0


def test_the_start_up_check_does_not_import_meridian():
    # Meridian fixes its backend on first import; the pipeline sets it only when a stage fits or loads a model.
    code = ("import logging, sys\nimport numpy as np, pandas as pd\nfrom mmm_meridian.config import load_config\n"
            "from mmm_meridian.optimize import stage\ncfg = load_config([])\n"
            "weekly = pd.DataFrame(np.ones((10, 6)), columns=cfg.channels)\n"
            "stage.preflight(cfg.optimization, cfg.channels, weekly.sum().to_numpy(), weekly, logging.getLogger())\n"
            "print('meridian' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "False"
