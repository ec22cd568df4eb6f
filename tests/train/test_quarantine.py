"""A fit refused by a gate is kept in quarantine and accepted later without resampling."""

from __future__ import annotations

import json

import pytest

from mmm_meridian.artifacts import file_sha256
from mmm_meridian.config import load_config
from mmm_meridian.errors import UserError
from mmm_meridian.pipeline import run_stage, stage_config
from mmm_meridian.train import quarantine
from tests.train.conftest import TINY

STRICT = ["training.on_failure_override=null", "complexity.identifiability.on_failure=fail"]


def test_a_refused_fit_is_quarantined_then_promoted_by_on_failure_warn(tiny_project):
    cfg, store = tiny_project("quarantine", *STRICT)
    with pytest.raises(UserError) as refused:
        run_stage(cfg, "train", store)
    assert "did not converge" in refused.value.what
    assert "train.quarantine" in refused.value.fix and "on_failure=warn" in refused.value.fix
    assert store.manifest("train") is None and not store.stage_dir("train").exists()
    held = quarantine.folder(store.stage_dir("train"))
    assert {"model.binpb", "diagnostics.json", "roi.csv", "quarantine.json"} <= {p.name for p in held.iterdir()}
    record = json.loads((held / "quarantine.json").read_text())
    assert record["reason"] == refused.value.what
    model_digest = file_sha256(held / "model.binpb")

    # Only the accept switch changes: the quarantined fit is promoted, not resampled.
    accept = load_config([f"paths.root={cfg.paths.root}", "project.name=quarantine", *TINY, *STRICT,
                          "complexity.identifiability.on_failure=warn"])
    manifest = run_stage(accept, "train", store)
    assert manifest.extra["summary"]["promoted_from_quarantine"] is True
    folder = store.stage_dir("train")
    assert file_sha256(folder / "model.binpb") == model_digest
    diagnostics = json.loads((folder / "diagnostics.json").read_text())
    assert diagnostics["accepted_below_gate"] is True and diagnostics["converged"] is False
    assert not held.exists()


def test_the_quarantine_key_ignores_the_accept_switches_only(tiny_project):
    cfg, store = tiny_project("keys", *STRICT)
    base = quarantine.fit_key(stage_config(cfg, "train"), "digest")
    for switch in ("complexity.identifiability.on_failure=warn", "complexity.plausibility.on_failure=warn",
                   "training.on_failure_override=warn"):
        other = load_config([f"paths.root={cfg.paths.root}", "project.name=keys", *TINY, *STRICT, switch])
        assert quarantine.fit_key(stage_config(other, "train"), "digest") == base, switch
    seed = load_config([f"paths.root={cfg.paths.root}", "project.name=keys", *TINY, *STRICT,
                        "training.sampler.seed=1"])
    assert quarantine.fit_key(stage_config(seed, "train"), "digest") != base
    assert quarantine.fit_key(stage_config(cfg, "train"), "another input") != base
