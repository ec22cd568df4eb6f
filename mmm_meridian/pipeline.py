"""The stage runner: checks upstream artifacts, runs a stage's library function, commits its outputs atomically.

Stages are registered in :data:`STAGES` in pipeline order: the stages whose artifacts each reads and the module
holding its ``run(ctx)`` function. Each stage module declares, next to its code, the config keys it reads in a
module-level ``READS`` tuple (dotted keys or whole sections); a stage's artifacts are keyed on those keys and its
upstream stages' (so a change to any of them makes the artifacts stale), apart from the keys in :data:`NOT_HASHED`,
which change where or how a stage runs but not what it writes. ``tests/core/test_stage_reads.py`` records what each
stage really reads and fails when a key is neither declared nor exempt. A stage without a module is not implemented
yet: it is left out of ``mmm run``'s plan, not faked.

In ``mmm run`` a later stage may start work early, beside the stages before it: a stage module that defines
``prestart(cfg, inputs, scratch, log)`` and ``PRESTART_NEEDS`` (the stages that work reads) has the hook called once
those stages are done; what it returns (an object with ``stop()``) reaches the stage's run as ``ctx.early``, and is
stopped, with its scratch folder removed, when the run ends however it ends (evaluate starts its holdout refit this way,
so that it samples while train does, and report Meridian's model summary page, written while optimize runs).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import platform
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mmm_meridian.artifacts import ArtifactStore, Manifest, StageWriter
from mmm_meridian.config.loader import to_plain
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import MissingArtifactError, UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    """A pipeline stage: what it reads and writes, and where its implementation lives."""

    name: str
    summary: str
    requires: tuple[str, ...]
    reads: str
    writes: tuple[str, ...]
    module: str | None = None  # module with ``run(ctx) -> dict``; None: not implemented yet

    @property
    def implemented(self) -> bool:
        return self.module is not None

    @property
    def config_keys(self) -> tuple[str, ...]:
        """The config keys (dotted, or whole sections) the stage's module declares it reads, in ``READS``."""
        if self.module is None:
            return ()
        return tuple(importlib.import_module(self.module).READS)

    def runner(self) -> Callable[[StageContext], dict[str, Any]]:
        if self.module is None:
            raise UserError(f"stage {self.name} is not implemented yet", where=f"`mmm {self.name}`",
                            fix=f"run the implemented stages: {', '.join(implemented_stages())}", stage=self.name)
        return importlib.import_module(self.module).run  # type: ignore[no-any-return]


STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in (
        StageSpec("ingest", "load raw data through the configured connectors and aggregate it to weekly series",
                  (), "the data source (data=<name>, ingest.*)",
                  ("raw.parquet", "standardized.parquet", "weekly.parquet", "ingest_summary.json"),
                  "mmm_meridian.ingest.stage"),
        StageSpec("validate", "score data quality (coverage, identifiability, value sanity) and gate the run",
                  ("ingest",), "ingest/standardized.parquet, ingest/weekly.parquet",
                  ("validation_report.json",), "mmm_meridian.validate.stage"),
        StageSpec("transform", "clean the data (duplicates, missing values, outliers) with a log of every change",
                  ("ingest", "validate"), "ingest/standardized.parquet",
                  ("clean.parquet", "cleaning_log.json"), "mmm_meridian.transform.stage"),
        StageSpec("features", "turn the clean data and business knowledge into model inputs and priors",
                  ("ingest", "transform"), "transform/clean.parquet, ingest/experiments.json (lift tests, when set)",
                  ("feature_spec.json", "model_inputs.parquet"), "mmm_meridian.features.stage"),
        StageSpec("train", "fit the model engine (model.backend), check convergence and plausibility, save the model "
                  "(model.binpb for meridian, model.nc for pymc) and ROI table", ("features",),
                  "features/feature_spec.json", ("diagnostics.json", "roi.csv", "plausibility.json"),
                  "mmm_meridian.train.stage"),
        StageSpec("optimize", "allocate the budget with the engine's optimizer under business constraints",
                  ("train",), "train/'s saved model", ("allocation.csv", "scenarios.csv",
                                                                     "summary.json"), "mmm_meridian.optimize.stage"),
        StageSpec("evaluate", "measure accuracy and calibration on held-out periods and check business logic",
                  ("transform", "features", "train"),
                  "train/'s saved model, features/model_inputs.parquet (refits), transform/clean.parquet",
                  ("metrics.json",), "mmm_meridian.evaluate.stage"),
        StageSpec("report", "write the executive deck and dashboard tables",
                  ("ingest", "validate", "transform", "features", "train", "optimize",
                                           "evaluate"), "every earlier stage's artifacts",
                  ("executive_deck.pdf", "dashboard/", "attribution_report.csv", "optimization_recommendations.csv",
                   "model_summary.html"), "mmm_meridian.report.stage"),
    )
}


def implemented_stages() -> list[str]:
    return [name for name, spec in STAGES.items() if spec.implemented]


def upstream_closure(stage: str) -> list[str]:
    """Every stage ``stage`` depends on, directly or not, in pipeline order."""
    needed: set[str] = set()
    todo = list(STAGES[stage].requires)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(STAGES[name].requires)
    return [name for name in STAGES if name in needed]


def _select(plain: dict[str, Any], dotted: str) -> Any:
    node: Any = plain
    for part in dotted.split("."):
        node = node[part]
    return node


#: Keys a stage may read that do not change what it writes, so its artifacts are not keyed on them (with why).
NOT_HASHED: dict[str, str] = {
    "paths": "where artifacts, caches and logs go, not what they contain",
    "logging": "how much is logged",
    "tracking": "whether and where MLflow records the run",
    "profiles": "deployment targets; a profile's effect reaches the stages through paths.* and runtime.*",
    "runtime.resume": "whether up-to-date stages are skipped",
    "runtime.upstream_policy": "whether stale inputs are rebuilt or refused",
    "runtime.lock_timeout_s": "how long to wait for another run's lock",
    "runtime.threads": "CPU threads: the same draws, faster or slower",
    "runtime.device": "the hardware: the same model; results differ only by floating-point rounding",
    "runtime.gpu_fallback_to_cpu": "the hardware, as runtime.device",
    "runtime.gpu_memory_growth": "GPU memory allocation, not the draws",
    "runtime.gpu_memory_fraction": "GPU memory allocation, not the draws",
    "training.progress_every_s": "how often sampling progress is logged",
    "runtime.compilation_cache_dir": "where compiled programs are reused from: the same draws, compiled once",
    "runtime.overlap_stages": "when a stage's slow part starts (evaluate's refit, report's summary page), not what "
                              "it writes",
}


def hashed_keys(stage: str) -> list[str]:
    """The config keys ``stage``'s artifacts are keyed on: what it and its upstream stages declare they read."""
    keys: list[str] = []
    for name in [*upstream_closure(stage), stage]:
        keys += [key for key in STAGES[name].config_keys if key not in keys]
    return keys


def stage_config(cfg: MMMConfig, stage: str, plain: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved config values that ``stage`` and its upstream stages read (what its artifacts depend on)."""
    plain = plain if plain is not None else to_plain(cfg)
    return {key: _select(plain, key) for key in hashed_keys(stage)}


def config_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys: list[str] = []
        for key in sorted(set(old) | set(new)):
            keys += _changed_keys(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return keys
    return [] if old == new else [f"{prefix} ({old!r} -> {new!r})"]


def versions() -> dict[str, str]:
    """Package versions recorded in every manifest (read from metadata; nothing heavy is imported)."""
    found = {"python": platform.python_version()}
    for package in ("mmm-meridian", "google-meridian", "jax", "tensorflow", "tfp-nightly", "pymc-marketing", "pymc",
                    "pandas", "numpy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass
class StageContext:
    """What a stage's ``run`` receives: the typed config, its upstream folders and a writer for its outputs."""

    cfg: MMMConfig
    stage: str
    store: ArtifactStore
    out: StageWriter
    inputs: dict[str, Path]
    log: logging.Logger
    extra_manifest: dict[str, Any] = field(default_factory=dict)
    early: Any = None  # what the stage's ``prestart`` hook started before the stage ran (``mmm run``), else None

    def input_path(self, stage: str, name: str) -> Path:
        if stage not in self.inputs:
            raise KeyError(f"stage {self.stage} did not declare {stage} as an input")
        return self.inputs[stage] / name


def check_upstream(cfg: MMMConfig, stage: str, store: ArtifactStore, plain: dict[str, Any]) -> dict[str, Manifest]:
    """Return the manifests of ``stage``'s inputs, refusing missing, stale or hand-edited ones."""
    found: dict[str, Manifest] = {}
    for name in STAGES[stage].requires:
        manifest = store.manifest(name)
        if manifest is None:
            raise MissingArtifactError(f"stage {stage} needs the artifacts of stage {name}, which do not exist yet",
                                       where=str(store.stage_dir(name)), fix=f"run `mmm {name}` first (or `mmm run`)",
                                       stage=stage)
        expected = stage_config(cfg, name, plain)
        if manifest.config_hash != config_hash(expected):
            changed = _changed_keys(manifest.config, expected)[:5]
            raise MissingArtifactError(
                f"the {name} artifacts were made from another config (changed: {'; '.join(changed) or 'unknown'})",
                where=str(store.stage_dir(name)), fix=f"run `mmm {name}` again with this config first", stage=stage)
        try:
            store.verify_outputs(name, manifest)
        except MissingArtifactError as exc:
            exc.stage = stage
            raise
        found[name] = manifest
    return found


def is_up_to_date(cfg: MMMConfig, stage: str, store: ArtifactStore, plain: dict[str, Any]) -> bool:
    """True when ``stage``'s artifacts match the config, their inputs and their own files (used to resume runs)."""
    manifest = store.manifest(stage)
    if manifest is None or manifest.config_hash != config_hash(stage_config(cfg, stage, plain)):
        return False
    try:
        store.verify_outputs(stage, manifest)
        inputs = check_upstream(cfg, stage, store, plain)
    except UserError:
        return False
    source_fingerprint = getattr(importlib.import_module(STAGES[stage].module or "builtins"), "fingerprint", None)
    if source_fingerprint is not None:  # a stage reading outside data (ingest) is stale when its source changed
        current = source_fingerprint(cfg)
        if current is None or current != manifest.extra.get("fingerprint"):
            return False
    return all(manifest.inputs.get(name) == m.digest for name, m in inputs.items())


def run_stage(cfg: MMMConfig, stage: str, store: ArtifactStore | None = None, early: Any = None) -> Manifest:
    """Run one stage on its upstream artifacts and commit its outputs. The caller holds the store's lock.

    ``early``: what the stage's ``prestart`` hook started (see the module docstring), passed on as ``ctx.early``.
    """
    spec = STAGES[stage]
    runner = spec.runner()
    store = store or ArtifactStore(cfg.paths.artifacts)
    plain = to_plain(cfg)
    try:
        inputs = check_upstream(cfg, stage, store, plain)
    except MissingArtifactError:
        if cfg.runtime.upstream_policy.value != "rebuild":
            raise
        for name in upstream_closure(stage):
            if not is_up_to_date(cfg, name, store, plain):
                run_stage(cfg, name, store)
        inputs = check_upstream(cfg, stage, store, plain)
    values = stage_config(cfg, stage, plain)
    logger = logging.getLogger(f"mmm_meridian.{stage}")
    started = time.time()
    log.info("%s: %s", stage, spec.summary)
    with store.writing(stage) as writer:
        ctx = StageContext(cfg, stage, store, writer, {n: store.stage_dir(n) for n in inputs}, logger, early=early)
        try:
            summary = runner(ctx) or {}
        except UserError as exc:
            exc.stage = exc.stage or stage
            raise
        finished = time.time()
        manifest = Manifest(
            stage=stage, config_hash=config_hash(values), config=values,
            inputs={name: m.digest for name, m in inputs.items()}, outputs={}, versions=versions(),
            timings={"started": started, "finished": finished, "seconds": round(finished - started, 3)},
            created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(finished)),
            extra={"summary": summary, **ctx.extra_manifest})
        store.commit(writer, manifest)
    log.info("%s: done in %.1f s -> %s", stage, manifest.timings["seconds"], store.stage_dir(stage))
    return manifest


def _preflight(cfg: MMMConfig, later: list[str], store: ArtifactStore, checked: set[str]) -> None:
    """Run the start-up checks of the stages still to come, once each, as soon as their inputs exist.

    A stage module may define ``preflight_check(cfg, store, log) -> bool`` (False: its inputs are not there yet):
    e.g. optimize checks the budget bounds against the current spend mix before the model is trained, so a bad
    combination stops in seconds rather than after the fit.
    """
    for name in later:
        module = STAGES[name].module
        if name in checked or module is None:
            continue
        check = getattr(importlib.import_module(module), "preflight_check", None)
        try:
            if check is None or check(cfg, store, logging.getLogger(f"mmm_meridian.{name}")):
                checked.add(name)
        except UserError as exc:
            exc.stage = exc.stage or name
            raise


@dataclass
class _Early:
    """Work a later stage's ``prestart`` hook started, and the scratch folder it writes into."""

    handle: Any
    scratch: Path

    def close(self) -> None:
        """Stop the work if it still runs (a no-op once the stage collected it) and remove its scratch folder."""
        try:
            self.handle.stop()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _prestart(cfg: MMMConfig, later: list[str], store: ArtifactStore, done: set[str], plain: dict[str, Any],
              resume: bool, started: dict[str, _Early | None]) -> None:
    """Call the ``prestart`` hook of each later stage that will run, once the stages its early work reads are done
    in this run; ``started[stage]`` holds what it started (None: the hook started nothing)."""
    for name in later:
        module = importlib.import_module(STAGES[name].module) if STAGES[name].module else None
        hook = getattr(module, "prestart", None)
        if name in started or hook is None:
            continue
        needs = tuple(module.PRESTART_NEEDS)
        if not set(needs) <= done:
            continue
        started[name] = None
        if resume and is_up_to_date(cfg, name, store, plain):
            continue  # the stage will be skipped
        scratch = store.scratch(f"{name}-early")
        try:
            handle = hook(cfg, {n: store.stage_dir(n) for n in needs}, scratch,
                          logging.getLogger(f"mmm_meridian.{name}"))
        except BaseException as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            if isinstance(exc, UserError):
                exc.stage = exc.stage or name
            raise
        if handle is None:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            started[name] = _Early(handle, scratch)


def run_pipeline(cfg: MMMConfig, stages: Iterable[str] | None = None, *, resume: bool = True,
                 store: ArtifactStore | None = None,
                 on_stage: Callable[[str, Manifest], None] | None = None) -> dict[str, Manifest | None]:
    """Run the implemented stages in order; with ``resume`` a stage whose artifacts are up to date is skipped.

    ``on_stage(stage, manifest)`` is called after each stage that ran (tracking hooks in here).
    """
    store = store or ArtifactStore(cfg.paths.artifacts)
    plan = list(stages) if stages is not None else implemented_stages()
    done: dict[str, Manifest | None] = {}
    checked: set[str] = set()
    started: dict[str, _Early | None] = {}
    try:
        for i, stage in enumerate(plan):
            early = started.pop(stage, None)
            try:
                if resume and is_up_to_date(cfg, stage, store, to_plain(cfg)):
                    log.info("%s: up to date, skipped (runtime.resume=false re-runs it)", stage)
                    done[stage] = store.manifest(stage)
                else:
                    _preflight(cfg, plan[i + 1:], store, checked)
                    manifest = run_stage(cfg, stage, store, early.handle if early else None)
                    done[stage] = manifest
                    if on_stage is not None:
                        on_stage(stage, manifest)
            finally:
                if early is not None:
                    early.close()
            _prestart(cfg, plan[i + 1:], store, set(done), to_plain(cfg), resume, started)
    finally:
        for early in started.values():
            if early is not None:
                early.close()
    return done
