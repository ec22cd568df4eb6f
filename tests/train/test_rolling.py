"""Rolling splits end to end: one walk-forward split fitted in its own process with tiny draws (slow: a second fit)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmm_meridian.pipeline import run_stage


@pytest.mark.slow
def test_rolling_split_writes_predictions_roi_and_diagnostics(tiny_project):
    cfg, store = tiny_project("rolling", "training.rolling_splits.enabled=true",
                              "training.rolling_splits.window_weeks=48", "training.rolling_splits.horizon_weeks=8",
                              "training.rolling_splits.step_weeks=4", "training.rolling_splits.max_splits=1")
    manifest = run_stage(cfg, "train", store)
    split = store.stage_dir("train") / "splits" / "0"
    assert {"splits/0/predictions.csv", "splits/0/roi.csv", "splits/0/diagnostics.json",
            "splits/summary.csv"} <= set(manifest.outputs)
    info = json.loads((split / "split.json").read_text())
    assert info["n_train_weeks"] == 48 and info["n_horizon_weeks"] == 8
    predictions = pd.read_csv(split / "predictions.csv")
    assert predictions["holdout"].sum() == 8 and len(predictions) == 56
    assert predictions["time"].max() == info["horizon_end"]
    assert manifest.extra["summary"]["splits"] == 1
