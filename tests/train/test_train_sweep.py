"""The train issue's sweep through Hydra's multirun: `python -m mmm_meridian -m stage=features <adstock decays>` builds
each setting in its own artifacts folder and writes one table of the jobs. The same sweep with fits (one per job, a
table comparing their ROIs) runs over ``model.backend`` in tests/test_engines.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

TINY = ["training=fast", "training.sampler.n_chains=1", "training.sampler.n_adapt=10", "training.sampler.n_burnin=10",
        "training.sampler.n_keep=10", "training.sampler.n_prior_draws=0", "complexity.identifiability.on_failure=warn",
        # A handful of draws gives a degenerate posterior whose ROIs mean nothing: judged, but only warned about.
        "complexity.plausibility.on_failure=warn"]


def test_adstock_sweep_builds_each_setting_in_its_own_folder_and_lists_them(tmp_path: Path) -> None:
    decays = ["0.5", "0.9"]
    result = subprocess.run(
        [sys.executable, "-m", "mmm_meridian", "-m", "stage=features", f"paths.root={tmp_path}",
         "tracking.enabled=false", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}",
         f"features.adstock.platform_overrides.google_search.decay={','.join(decays)}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=800)
    assert result.returncode == 0, result.stderr[-3000:]

    table = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert list(table["status"]) == ["ok", "ok"]
    for decay, overrides in zip(decays, table["overrides"], strict=True):
        assert f"google_search.decay={decay}" in overrides
    for job, decay in enumerate(decays):
        artifacts = tmp_path / "sweep" / str(job) / "artifacts"
        assert (artifacts / "features" / "manifest.json").is_file()
        assert not (artifacts / "train").exists()
        spec = json.loads((artifacts / "features" / "feature_spec.json").read_text())
        search = next(c for c in spec["channels"] if c["channel"] == "google_search")
        assert search["priors"]["decay"] == float(decay)
        assert search["priors"]["decay_source"] == "override"
