"""Config sections for decisions and outputs: ``optimization``, ``evaluation``, ``reports``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from mmm_meridian.config._checks import check_pair, check_positive_int, check_range
from mmm_meridian.errors import ConfigError


class Objective(str, Enum):
    roas = "roas"  # fixed budget, maximise incremental revenue
    profit = "profit"  # flexible budget, maximise incremental revenue x margin - spend


def _check_ratios(key: str, low: Optional[float], high: Optional[float]) -> None:
    check_range(f"{key}.min_spend_ratio", low, 0)
    check_range(f"{key}.max_spend_ratio", high, 0, lo_open=True)
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{key}.min_spend_ratio={low} is above max_spend_ratio={high}", where=f"config key {key}",
                          fix="make min_spend_ratio <= max_spend_ratio (e.g. 0.5 and 1.5)")


@dataclass
class ChannelSpendBounds:
    min_spend_pct: Optional[float] = None
    max_spend_pct: Optional[float] = None
    min_spend_ratio: Optional[float] = None
    max_spend_ratio: Optional[float] = None


class CurrentMixPolicy(str, Enum):
    fail = "fail"  # stop before training, naming each channel whose current share breaks its bounds
    warn = "warn"  # optimise inside the bounds anyway; the deck states what the constraints cost


@dataclass
class PlatformConstraintsConfig:
    """Per-channel spend bounds for every plan, in two forms that both apply (each channel gets the tighter one).

    - Shares of the plan's total budget: ``min_spend_pct`` / ``max_spend_pct`` (fractions: 0.05 = 5 %, the
      pipeline guide's names).
    - Ratios to the channel's current spend, Meridian's own way of stating bounds (its ``spend_constraint_lower`` /
      ``upper``, default +-30 %): ``min_spend_ratio`` / ``max_spend_ratio`` (0.5 and 1.5: each channel between half
      and one and a half times what it spends now, at the plan's budget, i.e. the current mix scaled to that
      budget); null: no ratio bound.

    A brand whose current mix breaks the share bounds (one channel with 64 % of spend against a 40 % cap) can only
    meet them by moving budget the data may never have seen, and the best plan inside them may lose to the current
    mix. The run checks this before training: ``on_current_mix_outside: fail`` stops with the channels and numbers
    (use ratio bounds instead: ``min_spend_pct=0 max_spend_pct=1 min_spend_ratio=0.5 max_spend_ratio=1.5``, or
    widen the shares); ``warn`` optimises inside the share bounds as given and the deck states what they cost.
    """

    min_spend_pct: float = 0.05
    max_spend_pct: float = 0.4
    min_spend_ratio: Optional[float] = None
    max_spend_ratio: Optional[float] = None
    on_current_mix_outside: CurrentMixPolicy = CurrentMixPolicy.fail
    # Typed Any (entries become ChannelSpendBounds in __post_init__) so that command-line overrides can add channels
    # (`++optimization.platform_constraints.channel_overrides.<ch>.max_spend_pct=0.2`): OmegaConf cannot create a
    # new Dict[str, dataclass] entry from an override.
    channel_overrides: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from mmm_meridian.config.modeling import _entries

        self.channel_overrides = _entries("optimization.platform_constraints.channel_overrides",
                                          self.channel_overrides, ChannelSpendBounds)
        check_range("optimization.platform_constraints.min_spend_pct", self.min_spend_pct, 0, 1)
        check_range("optimization.platform_constraints.max_spend_pct", self.max_spend_pct, 0, 1)
        _check_ratios("optimization.platform_constraints", self.min_spend_ratio, self.max_spend_ratio)
        if self.min_spend_pct > self.max_spend_pct:
            raise ConfigError(
                f"optimization.platform_constraints.min_spend_pct={self.min_spend_pct} is above "
                f"max_spend_pct={self.max_spend_pct}", where="config key optimization.platform_constraints",
                fix="make min_spend_pct <= max_spend_pct")
        for channel, bounds in self.channel_overrides.items():
            key = f"optimization.platform_constraints.channel_overrides.{channel}"
            check_range(f"{key}.min_spend_pct", bounds.min_spend_pct, 0, 1)
            check_range(f"{key}.max_spend_pct", bounds.max_spend_pct, 0, 1)
            _check_ratios(key, bounds.min_spend_ratio if bounds.min_spend_ratio is not None else self.min_spend_ratio,
                          bounds.max_spend_ratio if bounds.max_spend_ratio is not None else self.max_spend_ratio)
            lo = self.min_spend_pct if bounds.min_spend_pct is None else bounds.min_spend_pct
            hi = self.max_spend_pct if bounds.max_spend_pct is None else bounds.max_spend_pct
            if lo > hi:
                raise ConfigError(f"{key} gives min_spend_pct={lo} above max_spend_pct={hi}", where=f"config key {key}",
                                  fix="make min_spend_pct <= max_spend_pct")


@dataclass
class ScenarioPreset:
    budget_change_pct: float = 0.0  # -20 means 20 % less than the current budget
    min_spend_pct: Optional[float] = None  # overrides the platform constraints for this scenario
    max_spend_pct: Optional[float] = None


def _default_scenarios() -> Dict[str, ScenarioPreset]:
    return {
        "budget_minus_20": ScenarioPreset(budget_change_pct=-20.0),
        "budget_minus_10": ScenarioPreset(budget_change_pct=-10.0),
        "current_budget": ScenarioPreset(budget_change_pct=0.0),
        "budget_plus_10": ScenarioPreset(budget_change_pct=10.0),
        "budget_plus_20": ScenarioPreset(budget_change_pct=20.0),
        "conservative": ScenarioPreset(budget_change_pct=0.0, min_spend_pct=0.1, max_spend_pct=0.3),
        "aggressive": ScenarioPreset(budget_change_pct=0.0, min_spend_pct=0.0, max_spend_pct=0.6),
    }


@dataclass
class SensitivityConfig:
    """Posterior risk of each recommendation: Meridian optimises the posterior mean only, so the current and the
    recommended plan are also compared draw by draw (probability of beating the current plan, interval of the lift).
    """

    enabled: bool = True
    n_draws: int = 1000  # at most this many posterior draws (evenly spaced) are used; 0 or more than exist: all
    interval: float = 0.9  # width of the reported credible intervals

    def __post_init__(self) -> None:
        check_range("optimization.sensitivity.n_draws", self.n_draws, 0)
        check_range("optimization.sensitivity.interval", self.interval, 0, 1, lo_open=True, hi_open=True)


@dataclass
class OptimizationConfig:
    objective: Objective = Objective.roas
    budget: Optional[float] = None  # total budget; None: the historical spend over the optimisation period
    margin: float = 1.0  # contribution margin on revenue, for the profit objective
    target_mroi: float = 1.0  # profit objective: spend while marginal ROI x margin stays above this
    platform_constraints: PlatformConstraintsConfig = field(default_factory=PlatformConstraintsConfig)
    scenario_presets: Dict[str, ScenarioPreset] = field(default_factory=_default_scenarios)
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)
    business_notes: List[str] = field(default_factory=list)  # e.g. creative fatigue, audience overlap caveats
    # Meridian's grid tolerance: the budget is split in steps of budget x gtol. 1e-3 (steps of 0.1 % of the budget)
    # builds the grid ~9x faster than Meridian's 1e-4 (benchmarks/RESULTS.md) at a precision far finer than the
    # posterior uncertainty of any recommendation; set 1e-4 for Meridian's default.
    gtol: float = 1e-3
    # The optimiser's grid and every plan evaluation run on each posterior draw: a production fit keeps 10 x 1000
    # draws, 25x the fast preset's. An even thinning to this many draws (every chain kept) bounds the stage's time
    # at a Monte Carlo error far below the posterior spread; null uses every draw.
    max_posterior_draws: Optional[int] = 2000
    flag_extrapolation: bool = True  # flag recommended weekly spend outside the range observed in the data
    response_curves: bool = True  # write optimize/response_curves.csv (Meridian's Analyzer response curves)
    meridian_html: bool = True  # write Meridian's optimization summary page optimize/optimization_summary.html

    def __post_init__(self) -> None:
        check_range("optimization.margin", self.margin, 0, 1, lo_open=True)
        check_range("optimization.target_mroi", self.target_mroi, 0, lo_open=True)
        check_range("optimization.gtol", self.gtol, 0, 0.1, lo_open=True)
        if self.max_posterior_draws is not None:
            check_range("optimization.max_posterior_draws", self.max_posterior_draws, 1, None)
        if self.budget is not None:
            check_range("optimization.budget", self.budget, 0, lo_open=True)
        for name, preset in self.scenario_presets.items():
            check_range(f"optimization.scenario_presets.{name}.budget_change_pct", preset.budget_change_pct, -100, None,
                        lo_open=True)


# Checks that evaluation.metrics.blocking may name; a failed blocking check fails the evaluate stage.
BLOCKABLE_CHECKS = ("mape", "wmape", "r2", "coverage", "rolling_mape", "rolling_coverage", "geo_mape",
                    "digital_checks", "roi_bounds", "negative_baseline", "media_share")


@dataclass
class MetricsConfig:
    mape_threshold: float = 0.15
    coverage_threshold: float = 0.8
    interval: float = 0.8  # width of the prediction interval whose coverage is measured
    wmape_threshold: Optional[float] = None  # None: reported, not judged
    r2_threshold: Optional[float] = None  # minimum R-squared on held-out weeks; None: reported, not judged
    blocking: List[str] = field(default_factory=list)  # check names (BLOCKABLE_CHECKS) whose failure fails the stage

    def __post_init__(self) -> None:
        check_range("evaluation.metrics.mape_threshold", self.mape_threshold, 0, lo_open=True)
        check_range("evaluation.metrics.coverage_threshold", self.coverage_threshold, 0, 1)
        check_range("evaluation.metrics.interval", self.interval, 0, 1, lo_open=True, hi_open=True)
        check_range("evaluation.metrics.wmape_threshold", self.wmape_threshold, 0, lo_open=True)
        check_range("evaluation.metrics.r2_threshold", self.r2_threshold, None, 1)
        unknown = sorted(set(self.blocking) - set(BLOCKABLE_CHECKS))
        if unknown:
            raise ConfigError(f"evaluation.metrics.blocking names unknown check(s) {unknown}",
                              where="config key evaluation.metrics.blocking",
                              fix=f"choose from {list(BLOCKABLE_CHECKS)}")


@dataclass
class TemporalHoldoutConfig:
    """The last ``weeks`` weeks held out of a refit (Meridian's holdout); the train model is reused without refitting
    when it already holds out exactly these weeks (``model.holdout_weeks``)."""

    enabled: bool = True
    weeks: int = 13

    def __post_init__(self) -> None:
        check_positive_int("evaluation.validation_strategies.temporal_holdout.weeks", self.weeks)


@dataclass
class StrategyToggle:
    """Rolling-origin backtest over ``training.rolling_splits``: train's per-split results when it wrote them,
    else one refit per split, each in its own process."""

    enabled: bool = False


@dataclass
class GeoHoldoutConfig:
    """With several geos (brands / platforms / territories): the last ``weeks`` weeks of every other geo are held out
    of one refit, so each held-out geo is predicted from its own history and the other geos."""

    enabled: bool = False
    weeks: int = 13

    def __post_init__(self) -> None:
        check_positive_int("evaluation.validation_strategies.geo_holdout.weeks", self.weeks)


@dataclass
class ValidationStrategiesConfig:
    temporal_holdout: TemporalHoldoutConfig = field(default_factory=TemporalHoldoutConfig)
    rolling_origin: StrategyToggle = field(default_factory=StrategyToggle)
    geo_holdout: GeoHoldoutConfig = field(default_factory=GeoHoldoutConfig)


@dataclass
class DigitalChecksConfig:
    enabled: bool = True
    # Model incremental revenue / platform-reported revenue expected within these bounds.
    incrementality_bounds: List[float] = field(default_factory=lambda: [0.1, 1.5])

    def __post_init__(self) -> None:
        check_pair("evaluation.digital_checks.incrementality_bounds", self.incrementality_bounds, lo=0.0)


@dataclass
class BusinessChecksConfig:
    """Plausibility of the fitted model: posterior-mean ROI inside ``model.priors.roi_bounds`` (channels with bounds),
    probability that the baseline (revenue without media) is negative, and media's share of revenue."""

    enabled: bool = True
    media_share_range: List[float] = field(default_factory=lambda: [0.02, 0.8])
    max_negative_baseline_prob: float = 0.2

    def __post_init__(self) -> None:
        check_pair("evaluation.business_checks.media_share_range", self.media_share_range, lo=0.0)
        check_range("evaluation.business_checks.max_negative_baseline_prob", self.max_negative_baseline_prob, 0, 1)


@dataclass
class RefitSamplerConfig:
    """Caps on the sampler of evaluate's holdout refits (temporal, rolling-origin, geo, second opinion): a refit
    samples with ``training.sampler``, each count lowered to its cap here (null: no cap). A refit only scores
    held-out weeks, and its cost is mostly NUTS's adaptation and compilation, so the defaults (the default preset's
    counts) leave the fast and default presets' refits as they are and bring the production preset's 10 chains x
    3,500 iterations down to 4 x 2,000 (benchmarks/RESULTS.md, "Evaluate's holdout refit"). A refit is still judged
    by the convergence gate (``complexity.identifiability``); the deck names the sampler that scored the holdout."""

    max_chains: Optional[int] = 4
    max_adapt: Optional[int] = 500
    max_burnin: Optional[int] = 500
    max_keep: Optional[int] = 1000

    def __post_init__(self) -> None:
        for name in _REFIT_CAPS:
            if getattr(self, name) is not None:
                check_positive_int(f"evaluation.refit_sampler.{name}", getattr(self, name))

    def capped(self, sampler: dict[str, Any]) -> dict[str, Any]:
        """``sampler`` (``training.sampler`` as a job holds it) with each count lowered to its cap."""
        out = dict(sampler)
        for cap, key in _REFIT_CAPS.items():
            if getattr(self, cap) is not None:
                out[key] = min(int(out[key]), getattr(self, cap))
        return out


_REFIT_CAPS = {"max_chains": "n_chains", "max_adapt": "n_adapt", "max_burnin": "n_burnin", "max_keep": "n_keep"}


@dataclass
class EvaluationConfig:
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    validation_strategies: ValidationStrategiesConfig = field(default_factory=ValidationStrategiesConfig)
    refit_sampler: RefitSamplerConfig = field(default_factory=RefitSamplerConfig)
    digital_checks: DigitalChecksConfig = field(default_factory=DigitalChecksConfig)
    business_checks: BusinessChecksConfig = field(default_factory=BusinessChecksConfig)


@dataclass
class ReportsConfig:
    executive_deck: bool = True
    dashboard_exports: bool = True
    attribution_report: bool = True
    optimization_recommendations: bool = True
    meridian_html: bool = True
    # The report's model analyses (decomposition, fit, marginal ROI, response curves, Meridian's summary page) run on
    # at most this many evenly thinned posterior draws (see optimization.max_posterior_draws); ROI comes from
    # train/roi.csv (every draw) either way. null uses every draw.
    max_posterior_draws: Optional[int] = 2000
    currency: str = ""  # label printed next to money; empty: the data's currency_code where known

    def __post_init__(self) -> None:
        if self.max_posterior_draws is not None:
            check_range("reports.max_posterior_draws", self.max_posterior_draws, 1, None)
