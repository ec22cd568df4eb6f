"""The quarantine key: what makes a held fit the one a re-run may accept (the refusal and promotion of a real fit are
in test_train_stage.py, on the train tests' shared fit)."""

from __future__ import annotations

from mmm_meridian.config import load_config
from mmm_meridian.pipeline import stage_config
from mmm_meridian.train import quarantine
from tests.train.conftest import STRICT, TINY


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
