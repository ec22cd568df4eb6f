"""MLflow tracking: one parent run per ``mmm`` command (or sweep job) with a nested run per stage.

Stores. The default store is a sqlite database under ``paths.root`` (no server needed); ``tracking.uri`` points at a
server or database instead, and ``tracking.enabled=false`` turns tracking off. Processes running at the same time
must not write one sqlite file (it locks, and on a network volume it can corrupt), so Kubernetes Jobs
(``profile=k8s``) and the jobs of a parallel sweep launcher (joblib, ray, submitit) log to a sqlite store of their own
in ``<paths.artifacts>/mlruns``, a folder the artifacts lock already reserves for one process; an explicit sqlite
``tracking.uri`` in those settings is refused.

Start-up. The store is checked before any work with ``tracking.connect_timeout_s`` and no HTTP retries (MLflow's
retries wait over two minutes for a server that is down). When it does not answer, ``tracking.required=true`` stops
with a :class:`UserError` (exit status 2) and false runs the command untracked with one warning.

After a stage commits, logging is best-effort: a failure (server down, sqlite locked) is one warning, the command
logs nothing more, and its artifacts stay. A stage run gets the ``mmm.manifest_digest`` tag once fully logged; at
the end of every tracked command the committed stages with no such run in the experiment are logged (tagged
``mmm.logged_late``), so a resumed run records what an earlier failure left out.

Runs are created with :class:`MlflowClient` and explicit run ids rather than MLflow's global "active run", so stages,
sweeps and notebooks cannot leak runs into each other. Sweeps create the experiment and a sweep parent run in the
launching process (parallel jobs racing to create a fresh sqlite store corrupt its migration) and pass its id to the
jobs via ``MMM_MLFLOW_PARENT_RUN_ID``; jobs logging to a store of their own tag the id instead of nesting under it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmm_meridian.artifacts import MANIFEST, ArtifactStore, Manifest
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import ConfigError, UserError

log = logging.getLogger(__name__)
PARENT_ENV = "MMM_MLFLOW_PARENT_RUN_ID"
PARENT_STORE_ENV = "MMM_MLFLOW_PARENT_STORE"  # the sweep parent run's store, set while a sweep runs
NOTICE_ENV = "MMM_MLFLOW_OWN_STORES_ANNOUNCED"  # the sweep launcher already warned that jobs log to own stores
UNTRACKED_ENV = "MMM_MLFLOW_SWEEP_UNTRACKED"  # the sweep launcher found the store down and warned: jobs run untracked
DIGEST_TAG = "mmm.manifest_digest"
_MAX_ARTIFACT_BYTES = 200_000_000  # raw inputs larger than this stay out of the tracking store
_SKIP_ARTIFACTS = {"raw.parquet", "standardized.parquet"}  # the user's rows are referenced by hash, not copied
_RETRIES_ENV, _TIMEOUT_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"


@dataclass(frozen=True)
class Store:
    """Where a process logs: ``uri``, the artifact folder of a local store, and why it is a store of its own."""

    uri: str
    artifact_root: Path | None = None  # None: the server (or database) decides where artifacts go
    own_reason: str | None = None  # set when a per-process store replaces the shared default


def parallel_launcher(overrides: Sequence[str] = ()) -> str | None:
    """The parallel Hydra launcher of this sweep job, or the one named in a sweep's ``overrides``; None if sequential.

    Inside a sweep job (:data:`PARENT_STORE_ENV` is set while a sweep runs) Hydra's own config says which launcher
    runs it; a launching process only has its command-line overrides (``hydra/launcher=joblib_2``).
    """
    if os.environ.get(PARENT_STORE_ENV):
        with suppress(Exception):  # Hydra not running this process: not a sweep job
            from hydra.core.hydra_config import HydraConfig

            if HydraConfig.initialized():
                target = str(HydraConfig.get().launcher.get("_target_", ""))
                if target and not target.endswith(".BasicLauncher"):
                    return target.rsplit(".", 1)[-1]
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip().lstrip("+~") == "hydra/launcher" and value.strip() not in ("", "basic"):
            return f"hydra/launcher={value.strip()}"
    return None


def _concurrency_risk(cfg: MMMConfig, launcher: str | None) -> str | None:
    if cfg.profile.value == "k8s":
        return "Kubernetes Jobs (profile=k8s) sharing one volume"
    if launcher:
        return f"the parallel jobs of {launcher}"
    return None


def _beside_sqlite_file(uri: str) -> Path | None:
    """``<folder>/artifacts`` for a local sqlite file ``sqlite:///<folder>/<name>.db``; None for other stores.

    Without it MLflow puts a sqlite store's artifacts under ``./mlruns`` of whichever folder the experiment was created
    from, away from the database that lists them.
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix):] in ("", ":memory:"):
        return None
    return Path(uri[len(prefix):]).expanduser().resolve().parent / "artifacts"


def _local(folder: Path, reason: str | None) -> Store:
    folder = folder.expanduser().resolve() / "mlruns"
    folder.mkdir(parents=True, exist_ok=True)
    return Store(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts", reason)


def resolve_store(cfg: MMMConfig, launcher: str | None, *, launching: bool = False) -> Store:
    """The store of a process that runs stages (or, with ``launching``, of a sweep's launching process).

    Raises:
        ConfigError: ``tracking.uri`` names one sqlite file that concurrent processes would write.
    """
    reason = _concurrency_risk(cfg, launcher)
    uri = cfg.tracking.uri
    if uri:
        if reason and uri.startswith("sqlite:"):
            raise ConfigError(f"tracking.uri={uri} is one sqlite file, which {reason} would write at the same time "
                              "(it locks, and on a network volume it can corrupt)", where="config key tracking.uri",
                              fix="point tracking.uri at an MLflow server (e.g. http://mlflow:5000), or drop it so "
                              "that each job logs to a sqlite store of its own under <paths.artifacts>/mlruns")
        return Store(uri, _beside_sqlite_file(uri))
    # A sweep's launching process writes the shared store alone (its jobs get their own), except on Kubernetes,
    # where other Jobs may be writing the shared file on the volume.
    if reason and (not launching or cfg.profile.value == "k8s"):
        return _local(Path(cfg.paths.artifacts), reason)
    return _local(Path(cfg.paths.root), None)


def tracking_uri(cfg: MMMConfig) -> str:
    """The store this process logs to (see :func:`resolve_store`); the sqlite folder is created when local."""
    return resolve_store(cfg, parallel_launcher()).uri


@contextmanager
def fail_fast(timeout_s: int) -> Iterator[None]:
    """MLflow HTTP calls with one attempt and a ``timeout_s`` limit (its defaults retry for over two minutes)."""
    saved = {name: os.environ.get(name) for name in (_RETRIES_ENV, _TIMEOUT_ENV)}
    os.environ[_RETRIES_ENV] = "0"
    os.environ[_TIMEOUT_ENV] = str(int(timeout_s))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _redact(uri: str) -> str:
    return re.sub(r"//[^/@]+@", "//***@", uri)  # credentials in the URI stay out of logs and error lines


_NO_ANSWER = {"Connection refused": "connection refused", "timed out": "timed out",
              "Name or service not known": "unknown host", "nodename nor servname": "unknown host",
              "Temporary failure in name resolution": "unknown host"}


def _reason(exc: BaseException) -> str:
    """A short cause for a failed MLflow call (its messages repeat the URL and urllib3's retry chain)."""
    text = " ".join(str(exc).split())
    for pattern, short in {**_NO_ANSWER, "database is locked": "sqlite database is locked"}.items():
        if pattern in text:
            return short
    return f"{type(exc).__name__}: {text[:240]}"


def connect(cfg: MMMConfig, store: Store) -> tuple[Any, str | None]:
    """The start-up check: a client and the experiment id, or ``(None, None)`` when the store does not answer.

    Raises:
        UserError: the store does not answer within ``tracking.connect_timeout_s`` and ``tracking.required`` is true.
    """
    from mlflow.tracking import MlflowClient

    timeout = cfg.tracking.connect_timeout_s
    try:
        with fail_fast(timeout):
            client = MlflowClient(tracking_uri=store.uri)
            return client, ensure_experiment(client, cfg, store)
    except Exception as exc:  # noqa: BLE001 - any failure means the store is unusable for this command
        reason = _reason(exc)
        what = f"the MLflow tracking store {_redact(store.uri)} " + (
            f"does not answer within {timeout} s ({reason})" if reason in _NO_ANSWER.values()
            else f"failed the start-up check ({reason})")  # e.g. refused credentials, a broken database
        if cfg.tracking.required:
            raise UserError(what, where="config key tracking.uri",
                            fix="start the server or correct tracking.uri (or its credentials); tracking.required="
                            "false runs untracked with a warning instead, tracking.enabled=false turns tracking off"
                            ) from exc
        log.warning("tracking: %s; this command runs UNTRACKED (tracking.required=true would stop instead); a later "
                    "tracked command logs the stages that have no MLflow run", what)
        return None, None


def manifest_digest(stage_dir: Path) -> str:
    """Fingerprint of a committed stage folder: the sha256 of its manifest file (which lists every output's hash)."""
    return hashlib.sha256((stage_dir / MANIFEST).read_bytes()).hexdigest()[:16]


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
    """Logs a command and its stages to MLflow.

    Every method is a no-op while ``active`` is false: tracking disabled, the store unreachable at start-up with
    ``tracking.required=false``, or a logging failure earlier in this command.

    Raises:
        UserError: from the constructor, when the store fails the start-up check and ``tracking.required`` is true,
            or when ``tracking.uri`` is one sqlite file that concurrent jobs would share.
    """

    def __init__(self, cfg: MMMConfig) -> None:
        self.cfg = cfg
        self.enabled = cfg.tracking.enabled
        self.active = False
        self.client: Any = None
        self.uri: str | None = None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        if not self.enabled:
            return
        if os.environ.get(UNTRACKED_ENV):  # one warning per sweep (the launcher's), not one per job
            log.info("tracking: off for this sweep job (%s)", os.environ[UNTRACKED_ENV])
            return
        store = resolve_store(cfg, parallel_launcher())
        self.uri = store.uri
        if store.own_reason:
            level = logging.INFO if os.environ.get(NOTICE_ENV) else logging.WARNING
            log.log(level, "tracking: %s must not write one sqlite file at the same time (it locks, and on a "
                    "network volume it can corrupt): this process logs to a store of its own, %s; set tracking.uri "
                    "to an MLflow server to keep every run in one place", store.own_reason, store.uri)
        self.client, self.experiment_id = connect(cfg, store)
        self.active = self.client is not None

    @contextmanager
    def pipeline_run(self, label: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> Iterator[str | None]:
        """A parent run for a whole command; on leaving it, committed stages with no MLflow run yet are logged."""
        if self.active:
            self._open_parent(label, params, tags)
        status = "FAILED"
        try:
            yield self.parent_run_id
            status = "FINISHED"
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (cli.Terminated): stopped from outside, not failed
            status = "KILLED"
            raise
        except Exception:
            self.log_untracked_stages()  # stages committed before the failure still get their runs
            raise
        else:
            self.log_untracked_stages()
        finally:
            self._terminate(self.parent_run_id, status)

    def log_stage(self, stage: str, manifest: Manifest, stage_dir: Path, *, late: bool = False) -> str | None:
        """A nested run for one committed stage (config, metrics, artifacts); best-effort, returns its id or None.

        ``late`` marks a stage committed by an earlier command (tag ``mmm.logged_late``).
        """
        if not self.active:
            return None
        try:
            return self._log_stage(stage, manifest, stage_dir, late)
        except Exception as exc:  # noqa: BLE001 - the stage's artifacts are committed: tracking must not fail it
            self._give_up(f"log stage {stage}", exc)
            return None

    def log_untracked_stages(self) -> list[str]:
        """Log the committed stages of ``paths.artifacts`` that have no fully logged run in this experiment yet.

        A stage whose files were changed after it was written is left out (its manifest no longer describes them).
        Returns the stages logged.
        """
        if not self.active:
            return []
        from mmm_meridian.pipeline import STAGES

        store = ArtifactStore(self.cfg.paths.artifacts)
        logged: list[str] = []
        for stage in STAGES:
            stage_dir = store.stage_dir(stage)
            if not (stage_dir / MANIFEST).is_file():
                continue
            try:
                if self._is_logged(stage, manifest_digest(stage_dir)):
                    continue
            except Exception as exc:  # noqa: BLE001 - best-effort, as every call after the start-up check
                self._give_up("look up which stages are logged", exc)
                break
            try:
                manifest = store.manifest(stage)
                if manifest is None:  # removed since the check above
                    continue
                store.verify_outputs(stage, manifest)
            except UserError as exc:
                log.info("tracking: stage %s is not logged: %s", stage, exc)
                continue
            if self.log_stage(stage, manifest, stage_dir, late=True) is None:
                break
            logged.append(stage)
        if logged:
            log.info("tracking: logged stage(s) %s, committed earlier without an MLflow run", ", ".join(logged))
        return logged

    def log_file(self, path: Path, artifact_path: str = "logs") -> None:
        """Attach a file (the command's log) to the parent run; best-effort."""
        if not (self.active and self.parent_run_id and path.is_file()):
            return
        try:
            self.client.log_artifact(self.parent_run_id, str(path), artifact_path)
        except Exception as exc:  # noqa: BLE001 - the work is done; tracking must not fail it
            self._give_up(f"upload {path.name}", exc)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _open_parent(self, label: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        all_tags = {"mmm.kind": "pipeline", "mmm.stage": label, **tags}
        sweep_parent = os.environ.get(PARENT_ENV)
        if sweep_parent:
            sweep_store = os.environ.get(PARENT_STORE_ENV, self.uri)
            if sweep_store == self.uri:
                all_tags["mlflow.parentRunId"] = sweep_parent
            else:  # the sweep's run lives in another store: MLflow cannot nest across stores
                all_tags.update({"mmm.sweep_run_id": sweep_parent, "mmm.sweep_store": _redact(str(sweep_store))})
        try:
            run = self.client.create_run(self.experiment_id, run_name=label, tags=all_tags)
            self.parent_run_id = run.info.run_id
            self._log_params(self.parent_run_id, params)
        except Exception as exc:  # noqa: BLE001 - same policy as after the start-up check: warn, run untracked
            self._give_up("open the command's run", exc)

    def _log_stage(self, stage: str, manifest: Manifest, stage_dir: Path, late: bool) -> str:
        tags = {"mmm.kind": "stage", "mmm.stage": stage, "mmm.config_hash": manifest.config_hash,
                "mmm.engine": str(self.cfg.model.backend.value),
                **{f"version.{k}": v for k, v in manifest.versions.items()}}
        if late:
            tags["mmm.logged_late"] = "true"  # committed by an earlier command whose logging failed or was off
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        if "fingerprint" in manifest.extra:
            tags["mmm.data_fingerprint"] = str(manifest.extra["fingerprint"])
        start_ms = int(manifest.timings.get("started", time.time()) * 1000)
        end_ms = int(manifest.timings.get("finished", time.time()) * 1000)
        run_id = self.client.create_run(self.experiment_id, run_name=stage, tags=tags, start_time=start_ms).info.run_id
        try:
            self._log_params(run_id, dict(manifest.config))
            self._log_metrics(run_id, {**numeric_metrics(manifest.extra.get("summary", {})),
                                       "stage_seconds": float(manifest.timings.get("seconds", 0.0))})
            self._log_artifacts(run_id, stage_dir, stage)
            if stage == "train" and self.cfg.tracking.log_model:
                self._log_model(run_id, stage_dir)
            # Set last: a run with this tag holds everything, so later commands do not log the stage again.
            self.client.set_tag(run_id, DIGEST_TAG, manifest_digest(stage_dir))
        except Exception:
            with suppress(Exception), fail_fast(self.cfg.tracking.connect_timeout_s):
                self.client.set_terminated(run_id, status="FAILED", end_time=end_ms)
            raise
        self.client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
        return run_id

    def _log_model(self, run_id: str, train_dir: Path) -> None:
        """The trained model as the engine's MLflow pyfunc spend-plan model (``tracking.log_model``), registered
        under ``tracking.registered_model_name`` when ``tracking.register_model``."""
        from mmm_meridian import models

        engine = models.for_config(self.cfg)
        model_path = train_dir / engine.model_file
        if not model_path.exists():
            return
        name = self.cfg.tracking.registered_model_name if self.cfg.tracking.register_model else None
        if engine.log_spend_plan_model(run_id, str(self.uri), model_path, name) is None:
            log.warning("tracking: the %s engine has no MLflow pyfunc model; tracking.log_model logs nothing for it",
                        engine.name)

    def _is_logged(self, stage: str, digest: str) -> bool:
        runs = self.client.search_runs([self.experiment_id], max_results=1,
                                       filter_string=f"tags.`mmm.stage` = '{stage}' and tags.`{DIGEST_TAG}` = "
                                       f"'{digest}'")
        return len(runs) > 0

    def _give_up(self, what: str, exc: BaseException) -> None:
        """One warning, then nothing more is sent to MLflow in this command (each call could wait minutes)."""
        self.active = False
        log.warning("tracking: could not %s in MLflow store %s (%s); the artifacts on disk are complete; this "
                    "command logs nothing more to MLflow, and the next tracked command logs the stages that have no "
                    "MLflow run yet", what, _redact(str(self.uri)), _reason(exc))

    def _terminate(self, run_id: str | None, status: str) -> None:
        if run_id is None or self.client is None:
            return
        try:  # after a failure, one quick attempt so that the parent run is not left "running"
            with nullcontext() if self.active else fail_fast(self.cfg.tracking.connect_timeout_s):
                self.client.set_terminated(run_id, status=status)
        except Exception as exc:  # noqa: BLE001 - best-effort, as every call after the start-up check
            if self.active:
                self._give_up("close the command's run", exc)

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


def ensure_experiment(client: Any, cfg: MMMConfig, store: Store | None = None) -> str:
    """The experiment id for ``tracking.experiment_name``, created with a local store's artifacts beside its file."""
    name = cfg.tracking.experiment_name
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = store.artifact_root.as_uri() if store is not None and store.artifact_root is not None else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # noqa: BLE001 - another process created it first
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def start_sweep_parent(cfg: MMMConfig, overrides: list[str]) -> str | None:
    """Check the store, create the experiment and a sweep parent run in the launching process; returns its id.

    Returns None when tracking is disabled or the store does not answer (with one warning, after which the jobs run
    untracked without checking again). While the sweep runs, :data:`PARENT_STORE_ENV` names the parent's store so
    that jobs logging elsewhere tag the id instead of nesting.

    Raises:
        UserError: the store fails the start-up check and ``tracking.required`` is true, or ``tracking.uri`` is one
            sqlite file that parallel jobs would share.
    """
    if not cfg.tracking.enabled:
        return None
    launcher = parallel_launcher(overrides)
    store = resolve_store(cfg, launcher, launching=True)
    client, experiment_id = connect(cfg, store)
    if client is None:
        os.environ[UNTRACKED_ENV] = f"the store {_redact(store.uri)} did not answer at the sweep's start"
        return None
    own = _concurrency_risk(cfg, launcher) if not cfg.tracking.uri else None
    if own:
        log.warning("tracking: %s must not write one sqlite file at the same time (it locks, and on a network "
                    "volume it can corrupt): each job logs to a store of its own, <paths.artifacts>/mlruns/mlflow.db "
                    "(by default <sweep dir>/<job>/artifacts/mlruns), tagged with the sweep run of %s; set "
                    "tracking.uri to an MLflow server to keep every job in one store", own, store.uri)
        os.environ[NOTICE_ENV] = "1"
    tags = {"mmm.kind": "sweep", "mmm.stage": cfg.stage.value, "mmm.overrides": " ".join(overrides)[:5000],
            "mmm.job_stores": "own" if own else "shared"}
    try:
        run = client.create_run(experiment_id, run_name=f"sweep {cfg.stage.value}", tags=tags)
    except Exception as exc:  # noqa: BLE001 - the store answered the check seconds ago: warn and go on untracked
        log.warning("tracking: could not open the sweep's run in %s (%s); the sweep's jobs log without it",
                    _redact(store.uri), _reason(exc))
        return None
    os.environ[PARENT_STORE_ENV] = store.uri
    return str(run.info.run_id)


def end_sweep_parent(cfg: MMMConfig, run_id: str | None, status: str) -> None:
    """Close the sweep parent run (best-effort: the jobs' results are on disk) and clear the sweep's variables."""
    uri = os.environ.pop(PARENT_STORE_ENV, None)
    os.environ.pop(NOTICE_ENV, None)
    os.environ.pop(UNTRACKED_ENV, None)
    if run_id is None or uri is None:
        return
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri).set_terminated(run_id, status=status)
    except Exception as exc:  # noqa: BLE001 - tracking must not fail a finished sweep
        log.warning("tracking: could not close the sweep's run %s (%s)", run_id, _reason(exc))
