"""The library API behind the CLI: load a config, run one stage or the whole pipeline under the artifacts lock."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from mmm_meridian.artifacts import ArtifactStore, Manifest
from mmm_meridian.config.loader import load_config
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.logs import setup_logging
from mmm_meridian.pipeline import STAGES, implemented_stages, run_pipeline
from mmm_meridian.pipeline import run_stage as _run_stage

__all__ = ["load_config", "run", "run_stage", "STAGES", "implemented_stages", "store_for"]

log = logging.getLogger(__name__)


def store_for(cfg: MMMConfig) -> ArtifactStore:
    return ArtifactStore(cfg.paths.artifacts)


def _prepare(cfg: MMMConfig, store: ArtifactStore, label: str) -> None:
    for action in store.recover():
        log.warning(action)
    setup_logging(cfg, log_file=Path(cfg.paths.logs) / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}.log")


def run_stage(cfg: MMMConfig, stage: str) -> Manifest:
    """Run one stage (its upstream artifacts must exist and match the config) under the artifacts lock."""
    store = store_for(cfg)
    with store.lock(cfg.runtime.lock_timeout_s):
        _prepare(cfg, store, stage)
        return _run_stage(cfg, stage, store)


def run(cfg: MMMConfig, stages: Sequence[str] | None = None) -> dict[str, Manifest | None]:
    """Run the implemented stages in order, skipping up-to-date ones when ``runtime.resume`` is on."""
    store = store_for(cfg)
    with store.lock(cfg.runtime.lock_timeout_s):
        _prepare(cfg, store, "run")
        return run_pipeline(cfg, stages, resume=cfg.runtime.resume, store=store)
