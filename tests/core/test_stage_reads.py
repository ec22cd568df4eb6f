"""What a stage reads is what its artifacts are keyed on.

The recorded reads of every stage on the demo are checked in ``tests/test_end_to_end.py`` (which already runs the
whole pipeline); here: the declarations themselves, every declared key re-keying its stage, and a real resume.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.config.loader import to_plain
from mmm_meridian.pipeline import (
    NOT_HASHED,
    STAGES,
    config_hash,
    hashed_keys,
    is_up_to_date,
    run_pipeline,
    stage_config,
)
from tests.core.config_reads import config_leaves, trace_stage_reads, unexercised_keys, unhashed_reads


def _leaves(node: Any, prefix: str) -> list[str]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, f"{prefix}.{key}")]
    return [prefix]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, dict):
        return {**value, "x": 1}
    return "x"  # None


def _set(plain: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = plain
    for part in parents:
        node = node[part]
    node[last] = value


def test_every_stage_declares_real_keys(cfg):
    plain = to_plain(cfg)
    for name, spec in STAGES.items():
        assert spec.config_keys, name
        for key in spec.config_keys:
            node: Any = plain
            for part in key.split("."):
                assert part in node, f"{name} declares {key}, which is not a config key"
                node = node[part]
    for key in NOT_HASHED:
        assert key.split(".")[0] in plain, key


@pytest.mark.parametrize("stage", list(STAGES))
def test_changing_any_key_a_stage_reads_rekeys_it(cfg, stage):
    plain = to_plain(cfg)
    before = config_hash(stage_config(cfg, stage, plain))
    leaves = [leaf for key in hashed_keys(stage)
              for leaf in _leaves(stage_config(cfg, stage, plain)[key], key)]
    assert len(leaves) >= 5, leaves
    for leaf in leaves:
        changed = copy.deepcopy(plain)
        node: Any = changed
        for part in leaf.split("."):
            node = node[part]
        _set(changed, leaf, _changed(node))
        assert config_hash(stage_config(cfg, stage, changed)) != before, f"{stage} is not keyed on {leaf}"


def test_the_keys_the_issue_found_unhashed_are_keyed_now():
    assert "validation.coverage_frequency.min_weeks_required" in hashed_keys("ingest")
    assert {"runtime.chain_batch_size", "runtime.reconstruction_batch_size"} <= set(hashed_keys("train"))
    assert "runtime.chain_batch_size" not in hashed_keys("features")


def test_unhashed_reads_names_a_key_outside_the_declarations():
    assert unhashed_reads("ingest", {"data.channel_map", "paths.artifacts"}) == []
    assert unhashed_reads("ingest", {"training.sampler.n_keep", "runtime.chain_batch_size"}) == [
        "runtime.chain_batch_size", "training.sampler.n_keep"]


def test_resume_reruns_ingest_when_a_key_it_reads_changes_and_records_its_reads(make_cfg):
    stages = ["ingest", "validate", "transform"]
    cfg = make_cfg()
    with trace_stage_reads() as reads:
        first = run_pipeline(cfg, stages)
    assert "validation.coverage_frequency.min_weeks_required" in reads["ingest"]
    for stage in stages:
        assert unhashed_reads(stage, reads[stage]) == [], stage
    again = run_pipeline(cfg, stages)
    assert [again[s].created_at for s in stages] == [first[s].created_at for s in stages]  # all skipped

    changed = make_cfg("validation.coverage_frequency.min_weeks_required=60")
    assert not is_up_to_date(changed, "ingest", ArtifactStore(changed.paths.artifacts), to_plain(changed))
    rerun = run_pipeline(changed, stages)
    for stage in stages:
        assert rerun[stage].config_hash != first[stage].config_hash, stage
        assert rerun[stage].timings["started"] > first[stage].timings["finished"], stage


def test_a_key_no_run_reads_and_no_test_names_is_reported(cfg, tmp_path):
    (tmp_path / "test_x.py").write_text('load_config(["features.seasonality.weekly=false"])\n')
    everything_else = {"ingest": {key for key in config_leaves(cfg)
                                  if key not in ("features.baseline.trend", "features.seasonality.weekly")}}
    assert unexercised_keys(cfg, everything_else, tmp_path) == ["features.baseline.trend"]
    assert "data.channel_map" in config_leaves(cfg)  # a mapping of values is one key
    assert "optimization.scenario_presets.budget_plus_10.budget_change_pct" in config_leaves(cfg)
