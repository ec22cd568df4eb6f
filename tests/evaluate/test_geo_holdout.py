"""Geo holdout on a two-territory demo model: every other geo's last weeks are held out of one refit (in its own
process) and scored per held-out geo against the clean data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.api import run

TINY = ["training.sampler.n_chains=1", "training.sampler.n_adapt=30", "training.sampler.n_burnin=30",
        "training.sampler.n_keep=30", "training.sampler.n_prior_draws=0"]


@pytest.mark.slow
def test_geo_holdout_scores_each_held_out_geo(make_cfg):
    cfg = make_cfg("data=demo_geo", *TINY, "evaluation.validation_strategies.temporal_holdout.enabled=false",
                   "evaluation.validation_strategies.geo_holdout.enabled=true",
                   "evaluation.validation_strategies.geo_holdout.weeks=8")
    run(cfg, ["ingest", "validate", "transform", "features", "train", "evaluate"])
    root = Path(cfg.paths.artifacts)
    doc = json.loads((root / "evaluate" / "metrics.json").read_text())
    geo = doc["strategies"]["geo_holdout"]
    assert geo["held_out_geos"] == ["GB"] and geo["weeks"] == 8  # every other geo of [GB, US]
    assert geo["per_geo"]["GB"]["n"] == 8
    predictions = pd.read_parquet(root / "evaluate" / "refits" / "geo_holdout" / "predictions.parquet")
    held = predictions[predictions["holdout"].astype(bool)]
    assert set(held["geo"]) == {"GB"} and len(held) == 8
    clean = pd.read_parquet(root / "transform" / "clean.parquet")
    actual = clean[clean["geo"] == "GB"].set_index("time")["revenue"].loc[pd.to_datetime(held["time"])].to_numpy()
    mape = float(np.mean(np.abs(actual - held["predicted_mean"].to_numpy()) / actual))
    assert geo["per_geo"]["GB"]["mape"] == pytest.approx(mape, rel=1e-6)
    assert "geo_mape" in {c["name"] for c in doc["checks"]}
