"""Refits in separate processes: temporal holdout of other weeks than train's, and the rolling-origin backtest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmm_meridian.evaluate import stage
from tests.evaluate.test_evaluate_stage import run_stage


@pytest.mark.slow
def test_temporal_refit_and_rolling_backtest_run_in_subprocesses(fitted, tmp_path):
    ctx, out = run_stage(fitted, tmp_path, "evaluation.validation_strategies.temporal_holdout.weeks=6",
                         "evaluation.validation_strategies.rolling_origin.enabled=true",
                         "training.rolling_splits.window_weeks=60", "training.rolling_splits.horizon_weeks=6",
                         "training.rolling_splits.step_weeks=10", "training.rolling_splits.max_splits=2",
                         "training.sampler.n_adapt=40", "training.sampler.n_burnin=40", "training.sampler.n_keep=40",
                         "training.sampler.n_chains=1", "evaluation.digital_checks.enabled=false")
    # run_stage pins the temporal weeks to train's; the later override wins (6 weeks: a refit is needed).
    stage.run(ctx)
    doc = json.loads((out / "metrics.json").read_text())
    temporal = doc["strategies"]["temporal_holdout"]
    assert temporal["source"] == "refit" and temporal["holdout"]["n"] == 6
    refit = pd.read_parquet(out / "refits" / "temporal_holdout" / "predictions.parquet")
    assert refit["holdout"].sum() == 6 and refit["time"].iloc[-6:].tolist() == refit.loc[refit["holdout"], "time"]\
        .tolist()
    rolling = doc["strategies"]["rolling_origin"]
    assert len(rolling["splits"]) == 2 and all(s["source"] == "refit" for s in rolling["splits"])
    assert all(s["n"] == 6 for s in rolling["splits"])
    assert set(rolling["roi_movement"]) == {"google_search", "google_display", "google_video"}
    assert {c["name"] for c in doc["checks"]} >= {"rolling_mape", "rolling_coverage", "mape", "coverage"}
    for i in range(2):
        assert (out / "refits" / f"split_{i}" / "predictions.parquet").is_file()
