"""The root config: every section of the pipeline guide under its own key, registered in Hydra's ConfigStore."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum

from hydra.core.config_store import ConfigStore

from mmm_meridian.config._checks import check_known_channels
from mmm_meridian.config.data import CalibrationConfig, DataConfig, IngestConfig, KpiType, PathsConfig, ProjectConfig
from mmm_meridian.config.decisions import EvaluationConfig, OptimizationConfig, ReportsConfig
from mmm_meridian.config.infra import (
    ExternalDataConfig,
    LoggingConfig,
    PrivacyConfig,
    ProfilesConfig,
    RuntimeConfig,
    TrackingConfig,
)
from mmm_meridian.config.modeling import (
    ComplexityConfig,
    ConvergenceConfig,
    FeaturesConfig,
    ModelConfig,
    TrainingConfig,
)
from mmm_meridian.config.quality import EnhancedCleaningConfig, ValidationConfig
from mmm_meridian.errors import ConfigError


class StageName(str, Enum):
    ingest = "ingest"
    validate = "validate"
    transform = "transform"
    features = "features"
    train = "train"
    optimize = "optimize"
    evaluate = "evaluate"
    report = "report"
    run = "run"  # all stages in order


class ProfileName(str, Enum):
    local = "local"
    docker = "docker"
    k8s = "k8s"


@dataclass
class MMMConfig:
    stage: StageName = StageName.run
    profile: ProfileName = ProfileName.local
    project: ProjectConfig = field(default_factory=ProjectConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    enhanced_cleaning: EnhancedCleaningConfig = field(default_factory=EnhancedCleaningConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    complexity: ComplexityConfig = field(default_factory=ComplexityConfig)
    optimization: OptimizationConfig = field(default_factory=OptimizationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    profiles: ProfilesConfig = field(default_factory=ProfilesConfig)
    external_data: ExternalDataConfig = field(default_factory=ExternalDataConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)

    def __post_init__(self) -> None:
        # Checks that span sections: per-channel settings must name mapped channels.
        channels = list(self.data.channel_map)
        if not channels:
            raise ConfigError("data.channel_map is empty", where="config key data.channel_map",
                              fix="map each media channel to its spend column, e.g. "
                              "data.channel_map={google_search: my_search_spend}, or choose a dataset with data=<name>")
        check_known_channels("features.adstock.platform_overrides", self.features.adstock.platform_overrides, channels)
        check_known_channels("features.saturation.channel_overrides", self.features.saturation.channel_overrides,
                             channels)
        check_known_channels("model.priors.roi_bounds", self.model.priors.roi_bounds, channels)
        check_known_channels("optimization.platform_constraints.channel_overrides",
                             self.optimization.platform_constraints.channel_overrides, channels)
        self._check_engine()

    def _check_engine(self) -> None:
        """Settings that only one engine has are refused for the other, so no key is silently ignored."""
        from mmm_meridian.config.modeling import ModelBackend, NutsSampler

        default_sampler = NutsSampler.numpyro
        if self.model.second_opinion is not None and self.model.second_opinion == self.model.backend:
            raise ConfigError(f"model.second_opinion={self.model.second_opinion.value} is the engine that already "
                              "fits the model (model.backend)", where="config keys model.backend, model.second_opinion",
                              fix="name the other engine (meridian or pymc), or set model.second_opinion=null")
        uses_pymc = ModelBackend.pymc in (self.model.backend, self.model.second_opinion)
        meridian_only = [key for key, used in (
            ("data.reach_map (reach and frequency channels)", bool(self.data.reach_map)),
            ("data.organic_map (organic media)", bool(self.data.organic_map)),
            ("data.non_media_treatments", bool(self.data.non_media_treatments)),
            ("data.kpi_type=conversions", self.data.kpi_type == KpiType.conversions)) if used]
        if uses_pymc and meridian_only:
            role = "model.backend" if self.model.backend == ModelBackend.pymc else "model.second_opinion"
            raise ConfigError(f"{meridian_only[0]} is supported by the Meridian engine only, not by the PyMC engine "
                              f"({role}=pymc)", where=f"config keys {role}, {meridian_only[0].split(' ')[0]}",
                              fix="use model.backend=meridian (and model.second_opinion=null), or leave "
                                  + ", ".join(k.split(" ")[0] for k in meridian_only) + " unset")
        if not uses_pymc and self.training.sampler.nuts_sampler != default_sampler:
            raise ConfigError(f"training.sampler.nuts_sampler={self.training.sampler.nuts_sampler.value} applies to "
                              "the PyMC engine only; Meridian samples with its own NUTS (TensorFlow Probability)",
                              where="config keys model.backend, training.sampler.nuts_sampler",
                              fix="set model.backend=pymc, or leave training.sampler.nuts_sampler at its default")

    def convergence_gate(self) -> ConvergenceConfig:
        """``complexity.identifiability`` as the run applies it: a preset's ``training.on_failure_override`` (the
        fast preset warns) replaces its ``on_failure``. The train stage gates the main fit with it, evaluate its
        refits."""
        gate = self.complexity.identifiability
        override = self.training.on_failure_override
        return gate if override is None else dataclasses.replace(gate, on_failure=override)

    @property
    def channels(self) -> list[str]:
        """Media channel names, in the order of ``data.channel_map``."""
        return list(self.data.channel_map)


def register_configs() -> None:
    """Register the schema as ``base_config`` so ``conf/config.yaml`` can extend it."""
    ConfigStore.instance().store(name="base_config", node=MMMConfig)
