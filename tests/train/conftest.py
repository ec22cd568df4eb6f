"""A small simulated dataset committed as transform artifacts, and tiny-draw sampler settings for fast fits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmm_meridian.artifacts import ArtifactStore, Manifest, file_sha256
from mmm_meridian.config import MMMConfig, load_config
from mmm_meridian.errors import UserError
from mmm_meridian.simulate import SimulationSpec, simulate
from tests.features.helpers import clean_table, commit_transform

TINY = ["training=fast", "training.sampler.n_chains=2", "training.sampler.n_adapt=20", "training.sampler.n_burnin=20",
        "training.sampler.max_tree_depth=5", "features.seasonality.holidays.enabled=false",
        "training.sampler.n_keep=20", "training.sampler.n_prior_draws=0", "tracking.enabled=false",
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


# The convergence gate enforced (training=fast only warns): a tiny-draw fit is refused.
STRICT = ["training.on_failure_override=null", "complexity.identifiability.on_failure=fail"]


@dataclass(frozen=True)
class GatedFit:
    """One tiny JAX fit taken through the gate: refused under :data:`STRICT` (what the refusal left is recorded
    before anything else ran), then accepted from quarantine with ``on_failure=warn``. The accepted fit is the train
    stage's output the train tests read, so the refusal, the quarantine and the outputs cost one fit."""

    cfg: MMMConfig  # the accepting config
    store: ArtifactStore
    refused: UserError
    left_after_refusal: dict[str, Any]  # manifest, train folder, quarantined files and record, model digest
    manifest: Manifest


@pytest.fixture(scope="session")
def gated_fit(tiny_project) -> GatedFit:
    from mmm_meridian.pipeline import run_stage
    from mmm_meridian.train import quarantine

    strict, store = tiny_project("gated", *STRICT)
    with pytest.raises(UserError) as refused:
        run_stage(strict, "train", store)
    held = quarantine.folder(store.stage_dir("train"))
    left = {"manifest": store.manifest("train"), "train_folder": store.stage_dir("train").exists(),
            "held_files": {p.name for p in held.iterdir()} if held.is_dir() else set(),
            "record": json.loads((held / "quarantine.json").read_text()) if held.is_dir() else {},
            "model_digest": file_sha256(held / "model.binpb") if held.is_dir() else None}
    # Only the accept switch changes: the quarantined fit is promoted, not resampled.
    accept = load_config([f"paths.root={strict.paths.root}", "project.name=gated", *TINY, *STRICT,
                          "complexity.identifiability.on_failure=warn"])
    manifest = run_stage(accept, "train", store)
    return GatedFit(accept, store, refused.value, left, manifest)
