"""The library API behind the CLI: load a config, run one stage or the whole pipeline under the artifacts lock,
tracked in MLflow (one parent run per invocation, one nested run per stage)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from mmm_meridian.artifacts import ArtifactStore, Manifest
from mmm_meridian.config.loader import load_config, to_plain
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.logs import setup_logging
from mmm_meridian.pipeline import STAGES, implemented_stages, run_pipeline
from mmm_meridian.pipeline import run_stage as _run_stage
from mmm_meridian.tracking import Tracker

__all__ = ["load_config", "run", "run_stage", "STAGES", "implemented_stages", "store_for"]

log = logging.getLogger(__name__)


def store_for(cfg: MMMConfig) -> ArtifactStore:
    return ArtifactStore(cfg.paths.artifacts)


def _prepare(cfg: MMMConfig, store: ArtifactStore, label: str) -> Path | None:
    log_file = setup_logging(cfg, log_file=Path(cfg.paths.logs) / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}.log")
    for action in store.recover():
        log.warning(action)
    return log_file


def _tracked(cfg: MMMConfig, label: str, stages: Sequence[str] | None) -> dict[str, Manifest | None]:
    store = store_for(cfg)
    with store.lock(cfg.runtime.lock_timeout_s):
        log_file = _prepare(cfg, store, label)
        tracker = Tracker(cfg)
        tags = {"mmm.project": cfg.project.name, "mmm.profile": cfg.profile.value,
                "mmm.artifacts": str(store.root)}
        with tracker.pipeline_run(label, to_plain(cfg), tags):
            def on_stage(stage: str, manifest: Manifest) -> None:
                tracker.log_stage(stage, manifest, store.stage_dir(stage))

            if stages is None and label != "run":
                result = {label: _run_stage(cfg, label, store)}
                on_stage(label, result[label])  # type: ignore[arg-type]
            else:
                result = run_pipeline(cfg, stages, resume=cfg.runtime.resume, store=store, on_stage=on_stage)
            if log_file is not None:
                tracker.log_file(log_file)
        return result


def run_stage(cfg: MMMConfig, stage: str) -> Manifest:
    """Run one stage (its upstream artifacts must exist and match the config) under the artifacts lock."""
    manifest = _tracked(cfg, stage, None)[stage]
    assert manifest is not None
    return manifest


def run(cfg: MMMConfig, stages: Sequence[str] | None = None) -> dict[str, Manifest | None]:
    """Run the implemented stages in order, skipping up-to-date ones when ``runtime.resume`` is on."""
    return _tracked(cfg, "run", stages)
