"""Refits in separate processes: temporal holdout of other weeks than train's, and the rolling-origin backtest."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from mmm_meridian.evaluate import stage
from mmm_meridian.evaluate.refit import PendingRefit
from tests.evaluate.test_evaluate_stage import run_stage


@pytest.mark.slow
def test_temporal_refit_and_rolling_backtest_run_in_subprocesses(fitted, tmp_path, monkeypatch, caplog):
    ctx, out = run_stage(fitted, tmp_path, "evaluation.validation_strategies.temporal_holdout.weeks=6",
                         "evaluation.validation_strategies.rolling_origin.enabled=true",
                         "training.rolling_splits.window_weeks=60", "training.rolling_splits.horizon_weeks=6",
                         "training.rolling_splits.step_weeks=10", "training.rolling_splits.max_splits=2",
                         "training.sampler.n_adapt=40", "training.sampler.n_burnin=40", "training.sampler.n_keep=40",
                         "training.sampler.n_chains=1", "evaluation.digital_checks.enabled=false")
    # run_stage pins the temporal weeks to train's; the later override wins (6 weeks: a refit is needed). The refit
    # starts as `mmm run` starts it, before the stage, into a scratch folder evaluate collects it from.
    ctx.early = _prestart(ctx, fitted, tmp_path, monkeypatch)
    with caplog.at_level(logging.INFO, logger=ctx.log.name):
        stage.run(ctx)
    assert "collecting the refit started beside train" in caplog.text
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


def _prestart(ctx, fitted, tmp_path, monkeypatch, cores=2):
    monkeypatch.setattr("mmm_meridian.models.jobs.os.cpu_count", lambda: cores)
    scratch = tmp_path / f"scratch-{cores}"
    scratch.mkdir(exist_ok=True)
    return stage.prestart(ctx.cfg, {"features": fitted.stage_dir("features")}, scratch, ctx.log)


def test_mmm_run_starts_the_temporal_refit_evaluate_would_start(fitted, tmp_path, monkeypatch, caplog):
    for name in ("on", "off", "same"):
        (tmp_path / name).mkdir()
    ctx, _ = run_stage(fitted, tmp_path / "on", "evaluation.validation_strategies.temporal_holdout.weeks=6")
    early = _prestart(ctx, fitted, tmp_path, monkeypatch)
    try:
        assert isinstance(early, PendingRefit) and early.fit.process.poll() is None  # sampling already
        # The very job evaluate builds, so evaluate takes it over instead of starting a second refit.
        assert early.job == stage.Evaluator(ctx).refit_job("temporal_holdout", holdout_weeks=6)
        assert early.job.holdout_weeks == 6 and early.job.label == "evaluate temporal_holdout"
    finally:
        early.stop()
    with caplog.at_level(logging.INFO, logger=ctx.log.name):  # one core would only alternate the fits
        assert _prestart(ctx, fitted, tmp_path, monkeypatch, cores=1) is None
    assert "not started beside train: this machine has one core" in caplog.text

    off, _ = run_stage(fitted, tmp_path / "off", "evaluation.validation_strategies.temporal_holdout.weeks=6",
                       "runtime.overlap_stages=false")
    assert _prestart(off, fitted, tmp_path / "off", monkeypatch) is None
    # Train's model already holds out the strategy's weeks: evaluate may score it, so nothing is started early.
    same, _ = run_stage(fitted, tmp_path / "same")
    assert _prestart(same, fitted, tmp_path / "same", monkeypatch) is None
