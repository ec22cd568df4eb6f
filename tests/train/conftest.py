"""A small simulated dataset committed as transform artifacts, and tiny-draw sampler settings for fast fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config import load_config
from mmm_meridian.simulate import SimulationSpec, simulate
from tests.features.helpers import clean_table, commit_transform

TINY = ["training=fast", "training.sampler.n_chains=2", "training.sampler.n_adapt=20", "training.sampler.n_burnin=20",
        "training.sampler.max_tree_depth=5", "features.seasonality.holidays.enabled=false",
        "training.sampler.n_keep=20", "training.sampler.n_prior_draws=20", "tracking.enabled=false",
        # A handful of draws gives a degenerate posterior whose ROIs mean nothing: judged, but only warned about.
        "complexity.plausibility.on_failure=warn"]


@pytest.fixture(scope="session")
def small_clean():
    spec = SimulationSpec(n_weeks=60, series=(("brand_a", "GB"),), series_scale=(1.0,), seed=7)
    return clean_table(simulate(spec), territories=["GB"])


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory, small_clean):
    """A factory: config + store with transform and features done, artifacts in a fresh folder per name."""
    root: Path = tmp_path_factory.mktemp("train")

    def _make(name: str, *overrides: str):
        from mmm_meridian.pipeline import run_stage

        cfg = load_config([f"paths.root={root}", f"project.name={name}", *TINY, *overrides])
        store = ArtifactStore(cfg.paths.artifacts)
        commit_transform(cfg, store, small_clean)
        run_stage(cfg, "features", store)
        return cfg, store

    return _make
