"""Config sections for the data and where it comes from: ``project``, ``paths``, ``data``, ``ingest``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from mmm_meridian.config._checks import check_positive_int, check_range
from mmm_meridian.errors import ConfigError


@dataclass
class ProjectConfig:
    name: str = "mmm_demo"
    description: str = "Marketing mix model"
    data_version: str = "unversioned"  # free text shown on the report cover, e.g. a data snapshot date
    owner: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(ch in self.name for ch in "/\\\0") or self.name in {".", ".."}:
            raise ConfigError(f"project.name={self.name!r} is not a usable folder name", where="config key project.name",
                              fix="use letters, digits, '-', '_' or '.'")


@dataclass
class PathsConfig:
    root: str = "."
    artifacts: str = "${paths.root}/artifacts/${project.name}"
    cache: str = "${paths.root}/.mmm_cache"
    logs: str = "${paths.artifacts}/logs"


class Frequency(str, Enum):
    auto = "auto"
    daily = "daily"
    weekly = "weekly"


class WeekStart(str, Enum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"


class KpiType(str, Enum):
    """What ``data.revenue_col`` counts: money (``revenue``) or units such as conversions (``conversions``, Meridian's
    ``non_revenue`` KPI; ``data.revenue_per_kpi_col`` then gives each unit's value so ROI is still in money)."""

    revenue = "revenue"
    conversions = "conversions"


class Aggregation(str, Enum):
    mean = "mean"
    sum = "sum"
    max = "max"
    min = "min"
    first = "first"
    last = "last"


@dataclass
class DataConfig:
    """Column mapping of the user's table. Channel names are the keys of ``channel_map``."""

    date_col: str = "date_day"
    # strftime format of date_col (e.g. "%d/%m/%Y"); None: ISO dates, or the one day/month order that fits all rows.
    date_format: Optional[str] = None
    revenue_col: str = "all_purchases_original_price"  # the KPI column (revenue, or units: see kpi_type)
    kpi_type: KpiType = KpiType.revenue
    # Money per KPI unit, row by row (Meridian's simulated data: conversions x revenue_per_conversion). With
    # kpi_type=revenue it multiplies revenue_col into revenue at ingest; with kpi_type=conversions the model keeps the
    # conversions as its KPI and Meridian uses this column to state ROI and incremental revenue in money.
    revenue_per_kpi_col: Optional[str] = None
    # Paid channel -> spend column. A channel also listed in reach_map/frequency_map is a reach-and-frequency channel.
    channel_map: Dict[str, str] = field(default_factory=dict)
    impressions_map: Dict[str, str] = field(default_factory=dict)
    clicks_map: Dict[str, str] = field(default_factory=dict)
    platform_reported_map: Dict[str, str] = field(default_factory=dict)
    # Reach and frequency channels (Meridian's R&F media; weekly input only): channel of channel_map -> the column of
    # its weekly reach (people reached) and of its average frequency (exposures per person reached).
    reach_map: Dict[str, str] = field(default_factory=dict)
    frequency_map: Dict[str, str] = field(default_factory=dict)
    # Organic media (no spend: e.g. newsletters, organic social posts): name -> column of its weekly volume.
    organic_map: Dict[str, str] = field(default_factory=dict)
    # Non-media treatments (price, promotions...): columns modelled as causes with their own incremental revenue
    # (Meridian's non-media treatments) rather than as controls.
    non_media_treatments: List[str] = field(default_factory=list)
    controls: List[str] = field(default_factory=list)
    control_aggregation: Aggregation = Aggregation.mean  # how non-additive controls become weekly values
    promo_col: Optional[str] = None
    population_col: Optional[str] = None
    keys: List[str] = field(default_factory=list)
    geo_col: Optional[str] = None
    # Row filter: key column -> value or list of values kept, e.g. {territory_name: GB}.
    series: Dict[str, Any] = field(default_factory=dict)
    frequency: Frequency = Frequency.auto
    week_start: WeekStart = WeekStart.MON
    # Weeks at either end with fewer days than this (daily input) are dropped rather than under-counted.
    min_days_per_week: int = 7

    def __post_init__(self) -> None:
        for name in ("impressions_map", "clicks_map", "platform_reported_map", "reach_map", "frequency_map"):
            unknown = sorted(set(getattr(self, name)) - set(self.channel_map))
            if unknown:
                raise ConfigError(f"data.{name} names channel(s) {unknown} missing from data.channel_map",
                                  where=f"config key data.{name}", fix=f"use channels from data.channel_map: {sorted(self.channel_map)}")
        if self.geo_col is not None and self.geo_col not in self.keys:
            raise ConfigError(f"data.geo_col={self.geo_col!r} is not one of data.keys={list(self.keys)}",
                              where="config key data.geo_col", fix="add it to data.keys or unset data.geo_col")
        unknown_filters = sorted(set(self.series) - set(self.keys))
        if unknown_filters:
            raise ConfigError(f"data.series filters on {unknown_filters}, which are not in data.keys={list(self.keys)}",
                              where="config key data.series", fix="filter only on key columns listed in data.keys")
        check_range("data.min_days_per_week", self.min_days_per_week, 1, 7)
        self._check_vocabulary()

    def _check_vocabulary(self) -> None:
        """R&F channels name both columns, names do not collide, a conversions KPI has its value per unit. (An R&F
        channel may keep its impressions mapped: validate's delivery checks read them; its media is reach x frequency.)"""
        if set(self.reach_map) != set(self.frequency_map):
            odd = sorted(set(self.reach_map) ^ set(self.frequency_map))
            raise ConfigError(f"reach-and-frequency channel(s) {odd} need both data.reach_map and data.frequency_map",
                              where="config keys data.reach_map, data.frequency_map",
                              fix="map each R&F channel's reach column and its frequency column")
        names = {"paid channel": set(self.channel_map), "organic media": set(self.organic_map),
                 "non-media treatment": set(self.non_media_treatments), "control": set(self.controls)}
        kinds = list(names)
        for i, first in enumerate(kinds):
            for second in kinds[i + 1:]:
                both = sorted(names[first] & names[second])
                if both:
                    raise ConfigError(f"{both} named as both {first} and {second}",
                                      where="config keys data.channel_map, data.organic_map, "
                                            "data.non_media_treatments, data.controls",
                                      fix="give each column one role (a column cannot be a cause and a control)")
        if self.kpi_type == KpiType.conversions and not self.revenue_per_kpi_col:
            raise ConfigError("data.kpi_type=conversions needs data.revenue_per_kpi_col (the money per conversion) "
                              "so that ROI stays in money", where="config keys data.kpi_type, data.revenue_per_kpi_col",
                              fix="set data.revenue_per_kpi_col to the column of revenue per conversion, or model "
                                  "revenue with data.kpi_type=revenue")


@dataclass
class CalibrationConfig:
    """Lift tests (experiments) the model is calibrated with (README "Calibration with experiments").

    ``experiments`` is the path of a CSV (one test a row; columns ``channel,start,end[,geo]`` plus either
    ``roi,roi_se`` or ``incremental_revenue,incremental_revenue_se``; dates inclusive, in the data's calendar; ``geo``
    empty or absent for a national test), or the same rows as an inline list of mappings; null: no experiments.
    """

    # Typed Any: a path (str) or a list of mappings (OmegaConf has no union of str and list).
    experiments: Any = None

    def __post_init__(self) -> None:
        value = self.experiments
        if value is None or (isinstance(value, str) and value.strip()):
            return
        if isinstance(value, (list, tuple)) and value and all(isinstance(row, Mapping) for row in value):
            self.experiments = [dict(row) for row in value]
            return
        raise ConfigError(f"calibration.experiments={value!r} is neither a CSV path nor a list of experiments",
                          where="config key calibration.experiments",
                          fix="give the path of a CSV of lift tests, a list of rows such as [{channel: tv, start: "
                              "2024-03-04, end: 2024-03-31, roi: 2.1, roi_se: 0.4}], or null")


class Connector(str, Enum):
    figshare = "figshare"
    local_csv = "local_csv"
    demo = "demo"


@dataclass
class FigshareIngestConfig:
    article_id: int = 25314841
    file_name: str = "conjura_mmm_data.csv"
    api_base: str = "https://api.figshare.com/v2"
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 1.0
    max_bytes: int = 2_000_000_000
    max_redirects: int = 5
    offline: bool = False

    def __post_init__(self) -> None:
        check_range("ingest.figshare.timeout_s", self.timeout_s, 0, lo_open=True)
        check_range("ingest.figshare.retries", self.retries, 0, 20)
        check_range("ingest.figshare.backoff_s", self.backoff_s, 0)
        check_positive_int("ingest.figshare.max_bytes", self.max_bytes)


@dataclass
class LocalCsvIngestConfig:
    """A local table: .csv/.tsv/.txt (delimiter sniffed unless set), .parquet, .xlsx/.xls; .gz/.zip compressed CSV."""

    path: Optional[str] = None
    delimiter: Optional[str] = None
    decimal: str = "."  # "," for files written with a decimal comma (usually with delimiter ";")
    encoding: str = "utf-8"
    sheet: Optional[str] = None
    max_bytes: int = 2_000_000_000

    def __post_init__(self) -> None:
        check_positive_int("ingest.local_csv.max_bytes", self.max_bytes)
        if self.decimal not in (".", ","):
            raise ConfigError(f"ingest.local_csv.decimal={self.decimal!r} is not a decimal mark",
                              where="config key ingest.local_csv.decimal", fix="use '.' or ','")


@dataclass
class DemoIngestConfig:
    """The embedded demo dataset (simulated, with known truth) shipped inside the package."""

    dataset: str = "conjura_like"


@dataclass
class IngestConfig:
    connector_priority: List[Connector] = field(default_factory=lambda: [Connector.demo])
    figshare: FigshareIngestConfig = field(default_factory=FigshareIngestConfig)
    local_csv: LocalCsvIngestConfig = field(default_factory=LocalCsvIngestConfig)
    demo: DemoIngestConfig = field(default_factory=DemoIngestConfig)

    def __post_init__(self) -> None:
        if not self.connector_priority:
            raise ConfigError("ingest.connector_priority is empty", where="config key ingest.connector_priority",
                              fix=f"list connectors to try, from {[c.value for c in Connector]}")
