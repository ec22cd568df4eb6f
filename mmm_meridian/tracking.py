"""MLflow tracking: one parent run per ``mmm run`` (or sweep job) with a nested run per stage.

The default store is a local sqlite database under ``paths.root`` (no server needed); ``tracking.uri`` points at a
server instead, and ``tracking.enabled=false`` turns tracking off. Runs are created with :class:`MlflowClient` and
explicit run ids rather than MLflow's global "active run", so stages, sweeps and notebooks cannot leak runs into
each other. Sweeps create the experiment and a sweep parent run in the launching process (parallel jobs racing to
create a fresh sqlite store corrupt its migration) and pass its id to the jobs via ``MMM_MLFLOW_PARENT_RUN_ID``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmm_meridian.artifacts import Manifest
from mmm_meridian.config.root import MMMConfig

log = logging.getLogger(__name__)
PARENT_ENV = "MMM_MLFLOW_PARENT_RUN_ID"
_MAX_ARTIFACT_BYTES = 200_000_000  # raw inputs larger than this stay out of the tracking store
_SKIP_ARTIFACTS = {"raw.parquet"}  # the user's raw data is referenced by hash, not copied


def tracking_uri(cfg: MMMConfig) -> str:
    if cfg.tracking.uri:
        return cfg.tracking.uri
    store = Path(cfg.paths.root).expanduser().resolve() / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store / 'mlflow.db'}"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b.c": value}; lists are kept as their string form."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def numeric_metrics(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers (not booleans) of a stage summary, flattened, as MLflow metrics."""
    metrics: dict[str, float] = {}
    for key, value in flatten(summary, prefix).items():
        if isinstance(value, bool):
            metrics[key] = float(value)
        elif isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
            metrics[key] = float(value)
    return metrics


class Tracker:
    """Logs a pipeline run and its stages to MLflow; every method is a no-op when tracking is disabled."""

    def __init__(self, cfg: MMMConfig) -> None:
        self.cfg = cfg
        self.enabled = cfg.tracking.enabled
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        if self.enabled:
            from mlflow.tracking import MlflowClient

            self.uri = tracking_uri(cfg)
            self.client = MlflowClient(tracking_uri=self.uri)
            self.experiment_id = ensure_experiment(self.client, cfg)

    @contextmanager
    def pipeline_run(self, label: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> Iterator[str | None]:
        """A parent run for a whole invocation (nested under a sweep's parent run when there is one)."""
        if not self.enabled:
            yield None
            return
        all_tags = {"mmm.kind": "pipeline", "mmm.stage": label, **tags}
        sweep_parent = os.environ.get(PARENT_ENV)
        if sweep_parent:
            all_tags["mlflow.parentRunId"] = sweep_parent
        run = self.client.create_run(self.experiment_id, run_name=label, tags=all_tags)
        self.parent_run_id = run.info.run_id
        status = "FAILED"
        try:
            self._log_params(self.parent_run_id, params)
            yield self.parent_run_id
            status = "FINISHED"
        finally:
            self.client.set_terminated(self.parent_run_id, status=status)

    def log_stage(self, stage: str, manifest: Manifest, stage_dir: Path) -> str | None:
        """A nested run for one finished stage: its config, metrics from its summary, and its artifacts."""
        if not self.enabled:
            return None
        tags = {"mmm.kind": "stage", "mmm.stage": stage, "mmm.config_hash": manifest.config_hash,
                **{f"version.{k}": v for k, v in manifest.versions.items()}}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        if "fingerprint" in manifest.extra:
            tags["mmm.data_fingerprint"] = str(manifest.extra["fingerprint"])
        start_ms = int(manifest.timings.get("started", time.time()) * 1000)
        run = self.client.create_run(self.experiment_id, run_name=stage, tags=tags, start_time=start_ms)
        run_id = run.info.run_id
        try:
            own = {k: v for k, v in manifest.config.items()}
            self._log_params(run_id, own)
            self._log_metrics(run_id, {**numeric_metrics(manifest.extra.get("summary", {})),
                                       "stage_seconds": float(manifest.timings.get("seconds", 0.0))})
            self._log_artifacts(run_id, stage_dir, stage)
            if stage == "train" and self.cfg.tracking.log_model and (stage_dir / "model.binpb").is_file():
                from mmm_meridian.train.meridian_pyfunc import log_spend_plan_model

                name = self.cfg.tracking.registered_model_name if self.cfg.tracking.register_model else None
                log_spend_plan_model(run_id, self.uri, stage_dir / "model.binpb", name)
        finally:
            end_ms = int(manifest.timings.get("finished", time.time()) * 1000)
            self.client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
        return run_id

    def log_file(self, path: Path, artifact_path: str = "logs") -> None:
        if self.enabled and self.parent_run_id and path.is_file():
            self.client.log_artifact(self.parent_run_id, str(path), artifact_path)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in flatten(values).items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[i:i + 100])

    def _log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(_metric_name(k), v, now, 0) for k, v in metrics.items()]
        for i in range(0, len(items), 500):
            self.client.log_batch(run_id, metrics=items[i:i + 500])

    def _log_artifacts(self, run_id: str, stage_dir: Path, stage: str) -> None:
        for path in sorted(stage_dir.rglob("*")):
            if not path.is_file() or path.name in _SKIP_ARTIFACTS or path.stat().st_size > _MAX_ARTIFACT_BYTES:
                continue
            relative = path.parent.relative_to(stage_dir).as_posix()
            target = stage if relative == "." else f"{stage}/{relative}"
            self.client.log_artifact(run_id, str(path), target)


def _metric_name(name: str) -> str:
    # MLflow accepts letters, digits, _ - . space : / only.
    return "".join(ch if ch.isalnum() or ch in "_-. :/" else "_" for ch in name)[:250]


def ensure_experiment(client: Any, cfg: MMMConfig) -> str:
    """The experiment id for ``tracking.experiment_name``, created with its artifacts beside the local store."""
    name = cfg.tracking.experiment_name
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if not cfg.tracking.uri:  # local store: keep artifacts next to the database, not in the working directory
        location = (Path(cfg.paths.root).expanduser().resolve() / "mlruns" / "artifacts").as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # noqa: BLE001 - another process created it first
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def start_sweep_parent(cfg: MMMConfig, overrides: list[str]) -> str | None:
    """Create the experiment and a sweep parent run in the launching process; returns its id (None if disabled)."""
    if not cfg.tracking.enabled:
        return None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(cfg))
    experiment_id = ensure_experiment(client, cfg)
    run = client.create_run(experiment_id, run_name=f"sweep {cfg.stage.value}",
                            tags={"mmm.kind": "sweep", "mmm.stage": cfg.stage.value,
                                  "mmm.overrides": " ".join(overrides)[:5000]})
    return str(run.info.run_id)


def end_sweep_parent(cfg: MMMConfig, run_id: str | None, status: str) -> None:
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri(cfg)).set_terminated(run_id, status=status)
