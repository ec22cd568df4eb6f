"""Config sections for the data-quality gate and cleaning: ``validation`` and ``enhanced_cleaning``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Dict, List

from mmm_meridian.config._checks import check_pair, check_range
from mmm_meridian.errors import ConfigError


@dataclass
class CoverageFrequencyConfig:
    min_weeks_required: int = 52
    preferred_weeks: int = 104
    max_missing_weeks_pct: float = 2.0
    allow_future_dates: bool = False

    def __post_init__(self) -> None:
        check_range("validation.coverage_frequency.min_weeks_required", self.min_weeks_required, 1)
        check_range("validation.coverage_frequency.preferred_weeks", self.preferred_weeks, self.min_weeks_required)
        check_range("validation.coverage_frequency.max_missing_weeks_pct", self.max_missing_weeks_pct, 0, 100)


@dataclass
class IdentifiabilityConfig:
    max_channel_correlation: float = 0.9
    min_zero_spend_weeks_pct: float = 10.0
    max_vif: float = 10.0
    # Meridian fits several parameters per channel; fewer weeks per parameter than this is flagged.
    min_weeks_per_parameter: float = 5.0

    def __post_init__(self) -> None:
        check_range("validation.identifiability.max_channel_correlation", self.max_channel_correlation, 0, 1)
        check_range("validation.identifiability.min_zero_spend_weeks_pct", self.min_zero_spend_weeks_pct, 0, 100)
        check_range("validation.identifiability.max_vif", self.max_vif, 1)
        check_range("validation.identifiability.min_weeks_per_parameter", self.min_weeks_per_parameter, 0)


@dataclass
class ValueSanityConfig:
    roi_range: List[float] = field(default_factory=lambda: [0.0, 20.0])
    # Cost per 1000 impressions and per click, in the data's currency; outside the range is flagged per channel.
    cpm_range: List[float] = field(default_factory=lambda: [0.05, 200.0])
    cpc_range: List[float] = field(default_factory=lambda: [0.01, 50.0])
    metric_tolerance_pct: float = 50.0  # weekly CPM/CPC deviating from the channel median by more than this is flagged
    outlier_zscore: float = 4.0

    def __post_init__(self) -> None:
        check_pair("validation.value_sanity.roi_range", self.roi_range, lo=0.0)
        check_pair("validation.value_sanity.cpm_range", self.cpm_range, lo=0.0)
        check_pair("validation.value_sanity.cpc_range", self.cpc_range, lo=0.0)
        check_range("validation.value_sanity.metric_tolerance_pct", self.metric_tolerance_pct, 0, lo_open=True)
        check_range("validation.value_sanity.outlier_zscore", self.outlier_zscore, 0, lo_open=True)


@dataclass
class QualityThresholdsConfig:
    min_validation_score: float = 0.8
    weights: Dict[str, float] = field(default_factory=dict)  # check name -> weight (default 1)
    # A failing critical check stops the run whatever the score: each makes the model's numbers wrong.
    critical_checks: List[str] = field(default_factory=lambda: ["required_columns", "non_finite_values",
                                                                "negative_values", "min_weeks", "spend_variation",
                                                                "kpi_variation", "future_dates",
                                                                "mixed_frequencies", "kpi_gaps"])

    def __post_init__(self) -> None:
        check_range("validation.quality_thresholds.min_validation_score", self.min_validation_score, 0, 1)
        for name, weight in self.weights.items():
            check_range(f"validation.quality_thresholds.weights.{name}", weight, 0)


@dataclass
class ValidationConfig:
    coverage_frequency: CoverageFrequencyConfig = field(default_factory=CoverageFrequencyConfig)
    identifiability: IdentifiabilityConfig = field(default_factory=IdentifiabilityConfig)
    value_sanity: ValueSanityConfig = field(default_factory=ValueSanityConfig)
    quality_thresholds: QualityThresholdsConfig = field(default_factory=QualityThresholdsConfig)
    # Explicit user override: continue even when the gate fails (the report still says it failed).
    override_gate: bool = False


class OutlierPolicy(str, Enum):
    contextual_winsorization = "contextual_winsorization"
    iqr = "iqr"
    none = "none"


@dataclass
class OutliersConfig:
    policy: OutlierPolicy = OutlierPolicy.contextual_winsorization
    exempt_promo_periods: bool = True
    winsorize_percentile: float = 99.0
    iqr_multiplier: float = 3.0
    # Which values are capped: revenue, spend, impressions, clicks, platform_revenue, or a control's name. Media spend
    # peaks are usually real campaigns (capping them misstates spend and ROI), so only the KPI is capped by default.
    targets: List[str] = field(default_factory=lambda: ["revenue"])
    # Extra promotion periods besides data.promo_col: "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" (inclusive).
    promo_calendar: List[str] = field(default_factory=list)
    min_context_rows: int = 20  # fewer values in a context: no cap is computed (too few to tell a peak from a spike)

    def __post_init__(self) -> None:
        check_range("enhanced_cleaning.outliers.winsorize_percentile", self.winsorize_percentile, 50, 100)
        check_range("enhanced_cleaning.outliers.iqr_multiplier", self.iqr_multiplier, 0, lo_open=True)
        check_range("enhanced_cleaning.outliers.min_context_rows", self.min_context_rows, 1)
        for period in self.promo_calendar:
            parts = str(period).split("..")
            try:
                dates = [date.fromisoformat(p.strip()) for p in parts]
            except ValueError:
                dates = []
            if len(parts) > 2 or not dates or dates[0] > dates[-1]:
                raise ConfigError(f"enhanced_cleaning.outliers.promo_calendar entry {period!r} is not a date or range",
                                  where="config key enhanced_cleaning.outliers.promo_calendar",
                                  fix="use 'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD' (start before end)")


class ImputationStrategy(str, Enum):
    campaign_aware = "campaign_aware"
    simple = "simple"


class KpiMissingPolicy(str, Enum):
    impute = "impute"
    drop = "drop"
    fail = "fail"


class KpiLongGapPolicy(str, Enum):
    """What happens to a gap in the KPI longer than ``max_gap_days`` (only under ``kpi_policy=impute``)."""

    fail = "fail"  # validate's critical check kpi_gaps fails, and transform refuses: never invent weeks of sales
    exclude = "exclude"  # keep the weeks (placeholder KPI, interpolated) but hold them out of Meridian's likelihood
    interpolate = "interpolate"  # interpolate them like short gaps (the model is then fitted to invented sales)


@dataclass
class MissingDataConfig:
    strategy: ImputationStrategy = ImputationStrategy.campaign_aware
    pause_detection: bool = True
    outage_detection: bool = True
    # A missing KPI: impute (short gaps interpolated; long ones as kpi_long_gaps says), drop its weeks, or fail.
    kpi_policy: KpiMissingPolicy = KpiMissingPolicy.impute
    # Gaps in the KPI longer than max_gap_days: fail (default), exclude (out of the fit) or interpolate.
    kpi_long_gaps: KpiLongGapPolicy = KpiLongGapPolicy.fail
    max_gap_days: int = 14  # longer gaps are not interpolated: media -> 0, outages -> median ratio, KPI -> kpi_long_gaps

    def __post_init__(self) -> None:
        check_range("enhanced_cleaning.missing_data.max_gap_days", self.max_gap_days, 0)


class ConflictPolicy(str, Enum):
    """How two different versions of one record (same key and period) are resolved."""

    keep_first = "keep_first"  # the first row in file order (the record as first delivered)
    keep_last = "keep_last"  # the last row (a later re-send that corrects the first)
    mean = "mean"
    aggregate = "aggregate"  # treat them as split rows: additive columns summed
    fail = "fail"


@dataclass
class DuplicatesConfig:
    # Additive columns are summed across duplicate rows; every other mapped column uses its rule (default mean).
    additive_columns: List[str] = field(default_factory=list)  # empty: spend, impressions, clicks, revenue, platform revenue
    non_additive_rules: Dict[str, str] = field(default_factory=dict)  # column -> mean | max | min | first | last
    # Summing two versions of one record double-counts it, so by default the first version is kept (and reported).
    conflicting: ConflictPolicy = ConflictPolicy.keep_first


@dataclass
class EnhancedCleaningConfig:
    outliers: OutliersConfig = field(default_factory=OutliersConfig)
    missing_data: MissingDataConfig = field(default_factory=MissingDataConfig)
    duplicates: DuplicatesConfig = field(default_factory=DuplicatesConfig)
