"""Config sections for infrastructure: ``logging``, ``runtime``, ``tracking``, ``profiles`` and the disabled
``external_data`` / ``privacy`` extensions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, Optional

from mmm_meridian.config._checks import check_range
from mmm_meridian.errors import ConfigError, NotImplementedFeatureError


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass
class LoggingConfig:
    level: LogLevel = LogLevel.INFO
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    to_file: bool = True  # the run's log lands in the artifacts' logs folder
    progress: bool = True  # a progress bar on stderr while a connector downloads the data (figshare)


class Backend(str, Enum):
    jax = "jax"
    tensorflow = "tensorflow"


class Precision(str, Enum):
    float32 = "float32"
    float64 = "float64"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


class UpstreamPolicy(str, Enum):
    error = "error"  # a stale or missing upstream stage is an error that names the stage to run
    rebuild = "rebuild"  # stale or missing upstream stages are re-run first (used by sweeps)


@dataclass
class RuntimeConfig:
    backend: Backend = Backend.jax
    precision: Precision = Precision.float32
    device: Device = Device.auto
    gpu_fallback_to_cpu: bool = False
    gpu_memory_growth: bool = True
    gpu_memory_fraction: Optional[float] = None  # JAX pre-allocation fraction; None keeps the library default
    threads: Optional[int] = None  # intra-op threads; None: all cores
    chain_batch_size: Optional[int] = None  # sample chains in batches of this many to bound memory
    # Meridian's sample_posterior(reconstruction_batch_size=...): fewer chain x draw combinations per forward pass
    # bound GPU memory on large models; None keeps Meridian's default.
    reconstruction_batch_size: Optional[int] = None
    # JAX's persistent compilation cache: the XLA programs a fit compiles are kept here and reused by every later
    # process (stages, evaluate's refits, rolling splits, sweep and fan-out jobs), also across seeds and priors; on
    # the demo a warm cache cut the fast preset's sampling from 35 s to 25 s. Same draws either way. null: no cache.
    compilation_cache_dir: Optional[str] = "${paths.cache}/jax"
    # `mmm run` starts a later stage's slow part beside the stages before it: evaluate's temporal holdout refit once
    # features is done (it samples while train does: a fit of the demo's size keeps about one core busy, and on 2 cores
    # train took 72 s with the refit beside it, as without), and report's model summary page once train is done
    # (written while optimize runs). Only on a CPU with 2 or more cores (one GPU keeps one fit's memory); holds two
    # processes' memory at once. false: each stage does its own work when it runs. The same outputs either way.
    overlap_stages: bool = True
    upstream_policy: UpstreamPolicy = UpstreamPolicy.error
    resume: bool = True  # `mmm run` skips stages whose artifacts are up to date with the config and data
    lock_timeout_s: float = 0.0  # wait this long for another mmm process on the same artifacts, then refuse

    def __post_init__(self) -> None:
        if self.backend == Backend.tensorflow and self.precision == Precision.float64:
            # Meridian 2.1's TensorFlow backend computes in float32 whatever is asked (only JAX reads
            # MERIDIAN_ENABLE_JAX_X64), so float64 there would be recorded but never used.
            raise ConfigError("runtime.precision=float64 is not available with runtime.backend=tensorflow: Meridian's "
                              "TensorFlow backend always computes in float32",
                              where="config keys runtime.backend, runtime.precision",
                              fix="use runtime.backend=jax for float64 (runtime.backend=jax runtime.precision=float64), "
                                  "or keep tensorflow with runtime.precision=float32")
        check_range("runtime.gpu_memory_fraction", self.gpu_memory_fraction, 0, 1, lo_open=True)
        if self.threads is not None:
            check_range("runtime.threads", self.threads, 1)
        if self.chain_batch_size is not None:
            check_range("runtime.chain_batch_size", self.chain_batch_size, 1)
        if self.reconstruction_batch_size is not None:
            check_range("runtime.reconstruction_batch_size", self.reconstruction_batch_size, 1)
        check_range("runtime.lock_timeout_s", self.lock_timeout_s, 0)


@dataclass
class TrackingConfig:
    enabled: bool = True
    # None: a local sqlite store under paths.root (under paths.artifacts for k8s Jobs and parallel sweep jobs, so
    # that no two processes write one sqlite file); else an MLflow server (http://host:5000) or database URI.
    uri: Optional[str] = None
    # What to do when the store does not answer the start-up check: true stops with exit status 2 before any work;
    # false (the default, for local runs) runs the command untracked with one warning. The k8s profile sets true.
    required: bool = False
    connect_timeout_s: int = 3  # how long the start-up check waits for the tracking server (MLflow takes whole s)
    experiment_name: str = "${project.name}"
    log_model: bool = True  # log the trained model as an MLflow pyfunc model predicting revenue for spend plans
    register_model: bool = False
    registered_model_name: str = "${project.name}"

    def __post_init__(self) -> None:
        check_range("tracking.connect_timeout_s", self.connect_timeout_s, 1, 600)


@dataclass
class ProfileSettings:
    """Where one environment keeps its files and tracking; ``profile=<name>`` copies them into paths/tracking/runtime.

    ``tracking_uri`` None means a sqlite MLflow store under ``root``; the docker and k8s profiles take it from the
    MLFLOW_TRACKING_URI environment variable when that is set. The local profile has no data folder of its own:
    ``ingest.local_csv.path`` is absolute or relative to the folder ``mmm`` runs in.
    """

    root: str = "."
    tracking_uri: Optional[str] = None
    device: Device = Device.auto


@dataclass
class ContainerProfileSettings(ProfileSettings):
    """A container's settings: ``data_dir`` is where its data volume is mounted (``ingest.local_csv.path=
    <data_dir>/shop.csv``); the docker profile keeps its download cache there (``paths.cache``), and
    ``scripts/k8s_submit.py`` mounts the data claim there."""

    root: str = "/artifacts"
    data_dir: str = "/data"


@dataclass
class K8sResources:
    """Pod resources: ``cpu`` and ``memory`` are requests (memory is also the limit), ``gpu`` a limit."""

    cpu: str = "2"
    memory: str = "16Gi"
    gpu: int = 0
    gpu_resource: str = "nvidia.com/gpu"  # the extended resource name the cluster's device plugin exposes

    def __post_init__(self) -> None:
        check_range("profiles.k8s.resources.gpu", self.gpu, 0)
        for key, value in (("cpu", self.cpu), ("memory", self.memory)):
            if not _QUANTITY.fullmatch(str(value)):
                raise ConfigError(f"profiles.k8s.resources.{key}={value!r} is not a Kubernetes quantity",
                                  where=f"config key profiles.k8s.resources.{key}",
                                  fix="write e.g. cpu: '2' or '500m', memory: 16Gi or 512Mi")


@dataclass
class K8sProfileSettings(ContainerProfileSettings):
    """What ``scripts/k8s_submit.py`` renders into each Kubernetes Job (see scripts/k8s/job.yaml.tmpl)."""

    namespace: str = "mmm"
    image: str = "mmm-meridian-gpu:latest"
    image_pull_policy: str = "IfNotPresent"
    service_account: Optional[str] = None
    data_claim: str = "mmm-data"  # PersistentVolumeClaim mounted at data_dir (read-only)
    artifacts_claim: str = "mmm-artifacts"  # PersistentVolumeClaim mounted at root
    env_secret: Optional[str] = None  # a Secret whose keys become environment variables (tracking credentials)
    backoff_limit: int = 0  # a failed fit is not retried: the same config fails the same way
    ttl_seconds_after_finished: int = 86400
    active_deadline_seconds: Optional[int] = None
    node_selector: Dict[str, str] = field(default_factory=dict)
    resources: K8sResources = field(default_factory=K8sResources)

    def __post_init__(self) -> None:
        if not _DNS_LABEL.fullmatch(self.namespace):
            raise ConfigError(f"profiles.k8s.namespace={self.namespace!r} is not a valid namespace name",
                              where="config key profiles.k8s.namespace",
                              fix="use lower-case letters, digits and '-', at most 63 characters")
        if self.image_pull_policy not in _PULL_POLICIES:
            raise ConfigError(f"profiles.k8s.image_pull_policy={self.image_pull_policy!r} is not a pull policy",
                              where="config key profiles.k8s.image_pull_policy",
                              fix=f"choose from {', '.join(_PULL_POLICIES)}")
        check_range("profiles.k8s.backoff_limit", self.backoff_limit, 0)
        check_range("profiles.k8s.ttl_seconds_after_finished", self.ttl_seconds_after_finished, 0)
        if self.active_deadline_seconds is not None:
            check_range("profiles.k8s.active_deadline_seconds", self.active_deadline_seconds, 1)


_QUANTITY = re.compile(r"\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass
class ProfilesConfig:
    """Settings of the three environments; the one in use is chosen with ``profile=local|docker|k8s``."""

    local: ProfileSettings = field(default_factory=ProfileSettings)
    docker: ContainerProfileSettings = field(default_factory=ContainerProfileSettings)
    k8s: K8sProfileSettings = field(default_factory=K8sProfileSettings)


def _disabled(section: str, flags: Dict[str, bool]) -> None:
    for name, enabled in flags.items():
        if enabled:
            raise NotImplementedFeatureError(f"{section}.{name} is a future extension of the guide and is not "
                                             "implemented yet", where=f"config key {section}.{name}",
                                             fix=f"set {section}.{name}=false")


@dataclass
class ExternalDataConfig:
    competitor_intelligence: bool = False
    economic_indicators: bool = False
    market_research: bool = False

    def __post_init__(self) -> None:
        _disabled("external_data", vars(self))


@dataclass
class PrivacyConfig:
    differential_privacy: bool = False
    gdpr_compliance: bool = False
    ios_att_modeling: bool = False

    def __post_init__(self) -> None:
        _disabled("privacy", vars(self))
