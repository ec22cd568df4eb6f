"""The train issue's sweep, end to end with tiny draws: `python -m mmm_meridian -m stage=train <adstock decays>` fits
each setting in its own artifacts folder and writes one table comparing them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

TINY = ["training=fast", "training.sampler.n_chains=1", "training.sampler.n_adapt=10", "training.sampler.n_burnin=10",
        "training.sampler.n_keep=10", "training.sampler.n_prior_draws=10", "complexity.identifiability.on_failure=warn",
        # A handful of draws gives a degenerate posterior whose ROIs mean nothing: judged, but only warned about.
        "complexity.plausibility.on_failure=warn"]


def test_adstock_sweep_fits_each_setting_in_its_own_folder_and_compares_them(tmp_path: Path) -> None:
    decays = ["0.5", "0.9"]
    result = subprocess.run(
        [sys.executable, "-m", "mmm_meridian", "-m", "stage=train", f"paths.root={tmp_path}", "tracking.enabled=false",
         *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}",
         f"features.adstock.platform_overrides.google_search.decay={','.join(decays)}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=800)
    assert result.returncode == 0, result.stderr[-3000:]

    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert list(table["status"]) == ["ok", "ok"]
    for decay, overrides in zip(decays, table["overrides"], strict=True):
        assert f"google_search.decay={decay}" in overrides
    # The table compares the fits: one ROI column per channel, a convergence figure, and the fits differ.
    assert {"train.max_rhat", "train.min_ess", "train.roi_mean.google_search"} <= set(table.columns)
    assert table["train.roi_mean.google_search"].nunique() == 2

    for job, decay in enumerate(decays):
        artifacts = tmp_path / "sweep" / str(job) / "artifacts"
        assert (artifacts / "train" / "model.binpb").is_file()
        assert (artifacts / "train" / "manifest.json").is_file()
        spec = json.loads((artifacts / "features" / "feature_spec.json").read_text())
        search = next(c for c in spec["channels"] if c["channel"] == "google_search")
        assert search["priors"]["decay"] == float(decay)
        assert search["priors"]["decay_source"] == "override"
