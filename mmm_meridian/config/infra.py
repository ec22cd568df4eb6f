"""Config sections for infrastructure: ``logging``, ``runtime``, ``tracking``, ``profiles`` and the disabled
``external_data`` / ``privacy`` extensions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, Optional

from mmm_meridian.config._checks import check_range
from mmm_meridian.errors import NotImplementedFeatureError


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
    progress: bool = True


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
    upstream_policy: UpstreamPolicy = UpstreamPolicy.error
    resume: bool = True  # `mmm run` skips stages whose artifacts are up to date with the config and data
    lock_timeout_s: float = 0.0  # wait this long for another mmm process on the same artifacts, then refuse

    def __post_init__(self) -> None:
        check_range("runtime.gpu_memory_fraction", self.gpu_memory_fraction, 0, 1, lo_open=True)
        if self.threads is not None:
            check_range("runtime.threads", self.threads, 1)
        if self.chain_batch_size is not None:
            check_range("runtime.chain_batch_size", self.chain_batch_size, 1)
        check_range("runtime.lock_timeout_s", self.lock_timeout_s, 0)


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None  # None: a local sqlite store under paths.root
    experiment_name: str = "${project.name}"
    register_model: bool = False
    registered_model_name: str = "${project.name}"


@dataclass
class ProfileSettings:
    root: str = "."
    tracking_uri: Optional[str] = None
    device: Device = Device.auto


@dataclass
class K8sResources:
    cpu: str = "2"
    memory: str = "16Gi"
    gpu: int = 0


@dataclass
class K8sProfileSettings(ProfileSettings):
    namespace: str = "mmm"
    image: str = "mmm-meridian-gpu:latest"
    resources: K8sResources = field(default_factory=K8sResources)


@dataclass
class ProfilesConfig:
    local: ProfileSettings = field(default_factory=ProfileSettings)
    docker: ProfileSettings = field(default_factory=lambda: ProfileSettings(root="/artifacts"))
    k8s: K8sProfileSettings = field(default_factory=lambda: K8sProfileSettings(root="/artifacts"))


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
