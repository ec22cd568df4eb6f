"""Config sections for modelling: ``features``, ``model``, ``training``, ``complexity``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from mmm_meridian.config._checks import check_pair, check_positive_int, check_range
from mmm_meridian.errors import ConfigError, NotImplementedFeatureError


class DecayFunction(str, Enum):
    geometric = "geometric"
    binomial = "binomial"


@dataclass
class AdstockOverride:
    decay: float = 0.6
    fixed: bool = False


@dataclass
class AdstockConfig:
    decay: float = 0.6
    decay_function: DecayFunction = DecayFunction.geometric
    max_lag: int = 8
    # Beta prior concentration (alpha + beta) around the configured decay: higher pins it harder.
    prior_strength: float = 10.0
    fixed: bool = False
    platform_overrides: Dict[str, AdstockOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_range("features.adstock.decay", self.decay, 0, 1, hi_open=True)
        check_positive_int("features.adstock.max_lag", self.max_lag)
        check_range("features.adstock.prior_strength", self.prior_strength, 0, lo_open=True)
        for channel, override in self.platform_overrides.items():
            check_range(f"features.adstock.platform_overrides.{channel}.decay", override.decay, 0, 1, hi_open=True)


@dataclass
class SaturationOverride:
    k: float = 0.5


@dataclass
class SaturationConfig:
    k: float = 0.5
    prior_strength: float = 5.0
    channel_overrides: Dict[str, SaturationOverride] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_range("features.saturation.k", self.k, 0, lo_open=True)
        check_range("features.saturation.prior_strength", self.prior_strength, 0, lo_open=True)
        for channel, override in self.channel_overrides.items():
            check_range(f"features.saturation.channel_overrides.{channel}.k", override.k, 0, lo_open=True)


@dataclass
class CustomEvent:
    name: str = ""
    dates: List[str] = field(default_factory=list)


@dataclass
class HolidaysConfig:
    enabled: bool = True
    country: str = "US"
    subdivision: Optional[str] = None


@dataclass
class SeasonalityConfig:
    annual: bool = True
    fourier_terms: int = 2
    weekly: bool = False  # day-of-week pattern; only meaningful for daily input
    holidays: HolidaysConfig = field(default_factory=HolidaysConfig)
    custom_events: List[CustomEvent] = field(default_factory=list)
    # Meridian's time-varying intercept: one knot every N weeks (None: Meridian's default).
    knot_every_weeks: Optional[int] = 26

    def __post_init__(self) -> None:
        check_range("features.seasonality.fourier_terms", self.fourier_terms, 0, 10)
        if self.knot_every_weeks is not None:
            check_positive_int("features.seasonality.knot_every_weeks", self.knot_every_weeks)


@dataclass
class BaselineConfig:
    controls: bool = True  # use data.controls
    promotions: bool = True  # use data.promo_col as a control
    trend: bool = True


@dataclass
class ExtensionConfig:
    """A future extension named by the guide; enabling it fails until it is implemented."""

    enabled: bool = False


@dataclass
class FeaturesConfig:
    adstock: AdstockConfig = field(default_factory=AdstockConfig)
    saturation: SaturationConfig = field(default_factory=SaturationConfig)
    seasonality: SeasonalityConfig = field(default_factory=SeasonalityConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    attribution: ExtensionConfig = field(default_factory=ExtensionConfig)
    creative_fatigue: ExtensionConfig = field(default_factory=ExtensionConfig)
    custom_terms: ExtensionConfig = field(default_factory=ExtensionConfig)

    def __post_init__(self) -> None:
        for name in ("attribution", "creative_fatigue", "custom_terms"):
            if getattr(self, name).enabled:
                raise NotImplementedFeatureError(
                    f"features.{name} is a future extension of the guide and is not implemented yet",
                    where=f"config key features.{name}.enabled", fix=f"set features.{name}.enabled=false")


class MediaSource(str, Enum):
    impressions = "impressions"  # impressions where mapped, spend otherwise
    spend = "spend"


@dataclass
class RoiDefaultPrior:
    mu: float = 0.2  # Meridian's default LogNormal(0.2, 0.9) on ROI
    sigma: float = 0.9


@dataclass
class PriorsConfig:
    roi_bounds: Dict[str, List[float]] = field(default_factory=dict)
    roi_mass: float = 0.9  # prior probability mass inside the bounds
    default_roi: RoiDefaultPrior = field(default_factory=RoiDefaultPrior)

    def __post_init__(self) -> None:
        for channel, bounds in self.roi_bounds.items():
            check_pair(f"model.priors.roi_bounds.{channel}", bounds, lo=0.0)
            if bounds[0] <= 0:
                raise ConfigError(f"model.priors.roi_bounds.{channel}={list(bounds)} needs a low bound above 0 "
                                  "for a LogNormal prior", where=f"config key model.priors.roi_bounds.{channel}",
                                  fix="use e.g. [0.1, 5.0]")
        check_range("model.priors.roi_mass", self.roi_mass, 0, 1, lo_open=True, hi_open=True)
        check_range("model.priors.default_roi.sigma", self.default_roi.sigma, 0, lo_open=True)


@dataclass
class ModelConfig:
    media_source: MediaSource = MediaSource.impressions
    priors: PriorsConfig = field(default_factory=PriorsConfig)
    hill_before_adstock: bool = False
    holdout_weeks: int = 0  # last N weeks held out of the fit (evaluate's temporal holdout sets its own)


@dataclass
class SamplerConfig:
    n_chains: int = 4
    n_adapt: int = 500
    n_burnin: int = 500
    n_keep: int = 1000
    seed: int = 42
    n_prior_draws: int = 500

    def __post_init__(self) -> None:
        for name in ("n_chains", "n_adapt", "n_burnin", "n_keep", "n_prior_draws"):
            check_positive_int(f"training.sampler.{name}", getattr(self, name))


@dataclass
class RollingSplitsConfig:
    enabled: bool = False
    window_weeks: int = 104
    step_weeks: int = 13
    horizon_weeks: int = 13
    max_splits: int = 4

    def __post_init__(self) -> None:
        for name in ("window_weeks", "step_weeks", "horizon_weeks", "max_splits"):
            check_positive_int(f"training.rolling_splits.{name}", getattr(self, name))


@dataclass
class TrainingConfig:
    preset: str = "default"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    rolling_splits: RollingSplitsConfig = field(default_factory=RollingSplitsConfig)


class OnFailure(str, Enum):
    fail = "fail"
    warn = "warn"


@dataclass
class ConvergenceConfig:
    max_rhat: float = 1.1
    min_ess: float = 400.0
    max_divergences: int = 0
    on_failure: OnFailure = OnFailure.fail

    def __post_init__(self) -> None:
        check_range("complexity.identifiability.max_rhat", self.max_rhat, 1.0, lo_open=True)
        check_range("complexity.identifiability.min_ess", self.min_ess, 0)


@dataclass
class ComplexityConfig:
    identifiability: ConvergenceConfig = field(default_factory=ConvergenceConfig)
