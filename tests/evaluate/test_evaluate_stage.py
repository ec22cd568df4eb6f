"""The evaluate stage on a fitted model with 8 held-out weeks: metrics checked against independent computations."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, StageWriter
from mmm_meridian.evaluate import stage
from mmm_meridian.pipeline import StageContext
from tests.optimize.fixtures import HOLDOUT_WEEKS, fixture_config


def run_stage(fitted, tmp_path, *overrides):
    cfg = fixture_config(tmp_path, f"evaluation.validation_strategies.temporal_holdout.weeks={HOLDOUT_WEEKS}",
                         *overrides)
    out = tmp_path / "evaluate"
    out.mkdir()
    inputs = {name: fitted.stage_dir(name) for name in ("transform", "features", "train")}
    ctx = StageContext(cfg, "evaluate", ArtifactStore(cfg.paths.artifacts), StageWriter("evaluate", out), inputs,
                       logging.getLogger("test.evaluate"))
    return ctx, out


def test_holdout_metrics_match_independent_computation(fitted, tmp_path):
    ctx, out = run_stage(fitted, tmp_path, "++model.priors.roi_bounds.google_search=[0.5,2.0]")
    summary = stage.run(ctx)
    doc = json.loads((out / "metrics.json").read_text())
    temporal = doc["strategies"]["temporal_holdout"]
    assert temporal["source"] == "train model"  # the train fit already held these weeks out: no refit

    # Independent: actual revenue from the clean table, predictions from the saved table.
    clean = pd.read_parquet(fitted.stage_dir("transform") / "clean.parquet").sort_values("time")
    held_weeks = clean["time"].iloc[-HOLDOUT_WEEKS:].dt.strftime("%Y-%m-%d").tolist()
    actual = clean.set_index(clean["time"].dt.strftime("%Y-%m-%d"))["revenue"].loc[held_weeks].to_numpy()
    predictions = pd.read_csv(out / "holdout_predictions.csv")
    held = predictions[predictions["holdout"]].set_index("time").loc[held_weeks]
    assert len(held) == HOLDOUT_WEEKS
    mape = np.mean(np.abs(actual - held["predicted_mean"].to_numpy()) / actual)
    inside = (actual >= held["predicted_lo"].to_numpy()) & (actual <= held["predicted_hi"].to_numpy())
    assert temporal["holdout"]["mape"] == pytest.approx(mape, rel=1e-9)
    assert temporal["holdout"]["coverage"] == pytest.approx(inside.mean())
    assert temporal["holdout"]["n"] == HOLDOUT_WEEKS
    assert summary["mape"] == pytest.approx(mape, rel=1e-9)
    # The model is fitted on the other weeks: a sane fit of simulated data is within 15 % on held-out weeks.
    assert 0 < mape < 0.15
    # The predictive interval includes observation noise: it is wider than the posterior of the mean.
    assert (held["predicted_hi"] - held["predicted_lo"]).min() > 0

    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["mape"]["threshold"] == 0.15 and checks["mape"]["passed"] == (mape <= 0.15)
    assert checks["coverage"]["passed"] == (inside.mean() >= 0.8)
    # Digital checks: model incremental revenue / platform-reported revenue, from the files.
    roi = pd.read_csv(fitted.stage_dir("train") / "roi.csv").set_index("channel")
    for row in doc["digital_checks"]:
        platform = clean[f"{row['channel']}_platform_revenue"].sum()
        assert row["ratio"] == pytest.approx(roi.loc[row["channel"], "incremental_revenue"] / platform, rel=1e-6)
        assert row["flagged"] == (not 0.1 <= row["ratio"] <= 1.5)
    # Business checks: search's posterior ROI (about 3) is outside the configured [0.5, 2] -> reported, not blocking.
    assert checks["roi_bounds"]["passed"] is False and checks["roi_bounds"]["blocking"] is False
    assert 0 <= doc["business_checks"]["negative_baseline_prob"] <= 1
    media_share = roi["incremental_revenue"].sum() / clean["revenue"].sum()
    assert doc["business_checks"]["media_share"] == pytest.approx(media_share, rel=1e-6)
    assert "roi_bounds" in doc["failed"] and not doc["blocking_failed"]


def test_blocking_check_fails_the_stage_with_a_clear_error(fitted, tmp_path):
    ctx, out = run_stage(fitted, tmp_path, "evaluation.metrics.mape_threshold=0.000001",
                         "evaluation.metrics.blocking=[mape]", "evaluation.digital_checks.enabled=false",
                         "evaluation.business_checks.enabled=false")
    with pytest.raises(stage.EvaluationGateError, match=r"blocking check\(s\) failed: \['mape'\]") as caught:
        stage.run(ctx)
    assert "evaluation.metrics.blocking" in caught.value.fix
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["blocking_failed"] == ["mape"]


def test_unknown_blocking_name_is_a_config_error(tmp_path):
    from mmm_meridian.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown check"):
        fixture_config(tmp_path, "evaluation.metrics.blocking=[mapee]")
