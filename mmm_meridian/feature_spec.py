"""The features stage's contract with the model engines (core, shared by every stage): ``feature_spec.json`` plus ``model_inputs.parquet``.

``model_inputs.parquet`` holds one row per (geo, week): ``time``, ``geo``, ``revenue`` (the KPI: revenue, or
conversions when ``kpi_type`` is ``conversions``, with ``revenue_per_kpi`` beside it), ``population``, per paid channel
``<channel>__media`` (what Meridian's Hill/adstock act on; reach-and-frequency channels have ``<channel>__reach`` and
``<channel>__frequency`` instead) and ``<channel>__spend``, per organic medium ``<name>__organic``, then every
non-media treatment and control by name. ``feature_spec.json`` says what each column is and which priors the model
must use (see :class:`FeatureSpec`).

Paid channels are listed media channels first, then reach-and-frequency channels (Meridian's order of paid channels,
which every engine's tables follow).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmm_meridian.errors import MissingArtifactError


@dataclass(frozen=True)
class ChannelPriors:
    """The prior parameters of one channel and where each came from (``roi_source``: ``default`` / ``roi_bounds`` /
    ``experiment``; the others ``default`` / ``override``).

    ``roi_window``: the weeks ``[[start, end], ...]`` (ISO week-start dates, inclusive) the ROI prior is about: None for
    the whole period; an experiment's windows when the prior comes from lift tests (``roi_experiments``: their row
    numbers), so the engine calibrates the ROI of the spend in those weeks (Meridian's ``roi_calibration``).
    """

    channel: str
    roi_mu: float
    roi_sigma: float
    roi_source: str
    roi_bounds: list[float] | None
    decay: float
    decay_alpha: float
    decay_beta: float
    decay_fixed: bool
    decay_source: str
    ec_mu: float
    ec_sigma: float
    k: float
    k_source: str
    roi_window: list[list[str]] | None = None
    roi_experiments: list[int] = field(default_factory=list)
    # [mu, sigma] of the ROI prior the channel had before experiments replaced it (an engine that takes experiments
    # as likelihood terms, not as the prior, uses this one so the test is not counted twice); None when uncalibrated.
    uncalibrated_roi: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelPriors:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})  # type: ignore[attr-defined]


SPEC_VERSION = 1
SPEC_FILE = "feature_spec.json"
INPUTS_FILE = "model_inputs.parquet"


def media_column(channel: str) -> str:
    return f"{channel}__media"


def spend_column(channel: str) -> str:
    return f"{channel}__spend"


def reach_column(channel: str) -> str:
    return f"{channel}__reach"


def frequency_column(channel: str) -> str:
    return f"{channel}__frequency"


def organic_column(name: str) -> str:
    return f"{name}__organic"


#: Money per KPI unit (conversions KPIs only).
REVENUE_PER_KPI = "revenue_per_kpi"
#: Media sources of a paid channel.
REACH_FREQUENCY = "reach_frequency"


@dataclass(frozen=True)
class ChannelInput:
    """One paid channel: the data feeding it and its priors."""

    channel: str
    media_source: str  # "impressions", "spend" or "reach_frequency" (Meridian's R&F channel)
    source_column: str  # column of the clean table the media came from (the reach column for an R&F channel)
    total_spend: float
    priors: ChannelPriors

    @property
    def is_rf(self) -> bool:
        return self.media_source == REACH_FREQUENCY


@dataclass(frozen=True)
class OrganicInput:
    """One organic medium (no spend): its volume column ``<name>__organic`` in the model inputs."""

    name: str
    source_column: str  # column of the user's table


@dataclass(frozen=True)
class ExperimentInput:
    """One lift test, resolved against the data (``calibration.experiments``; see :mod:`mmm_meridian.tables.experiments`).

    ``roi`` / ``roi_se`` are what the model is calibrated with: measured directly, or the measured incremental revenue
    (and its standard error) over the channel's spend in the test's weeks and geo (``spend``).
    """

    row: int  # 1-based row of the experiments file (or position in the inline list)
    channel: str
    start: str  # ISO date, first week of the test (inclusive)
    end: str  # ISO date, last week of the test (inclusive)
    geo: str | None  # None: a national test (every geo)
    roi: float
    roi_se: float
    measured: str  # "roi" or "incremental_revenue"
    spend: float
    incremental_revenue: float | None = None
    incremental_revenue_se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ControlInput:
    """One control column and what it is (``data_control``, ``promo``, ``annual_fourier``, ``holiday`` ...)."""

    name: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class FeatureSpec:
    """Everything the train stage needs besides the model inputs table."""

    channels: list[ChannelInput]
    controls: list[ControlInput]
    geos: list[str]
    time_start: str
    time_end: str
    n_weeks: int
    population_source: str
    knots: int | None
    knots_reason: str
    decay_function: str
    max_lag: int
    hill_before_adstock: bool
    holdout_weeks: int
    seasonality_terms: dict[str, dict] = field(default_factory=dict)
    # Holiday calendar per geo: {"country": code or None, "subdivision": ..., "source": how it was chosen}.
    holiday_calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Weeks (ISO dates) per geo whose KPI is a placeholder for a long gap (enhanced_cleaning.missing_data.
    # kpi_long_gaps=exclude): the train stage holds them out of Meridian's likelihood, evaluate does not score them.
    excluded_weeks: dict[str, list[str]] = field(default_factory=dict)
    # Geo models: HalfNormal scales of the geo-spread priors {"media": eta_m, "controls": xi_c}; None: Meridian's.
    geo_variation: dict[str, float | None] = field(default_factory=dict)
    geo_variation_reason: str = ""  # how geo_variation was chosen (model.priors.geo_variation: auto or set)
    # The baseline's trend (features.baseline.trend): {"enabled": bool, "how": knots, a linear control, or none}.
    trend: dict[str, Any] = field(default_factory=dict)
    # Organic media and non-media treatments (Meridian engine only): causes with their own incremental revenue.
    organic: list[OrganicInput] = field(default_factory=list)
    treatments: list[ControlInput] = field(default_factory=list)  # kind "non_media_treatment"
    experiments: list[ExperimentInput] = field(default_factory=list)
    kpi: str = "revenue"
    kpi_type: str = "revenue"  # "revenue" or "conversions" (then model_inputs has revenue_per_kpi)
    version: int = SPEC_VERSION

    @property
    def is_geo(self) -> bool:
        return len(self.geos) > 1

    @property
    def channel_names(self) -> list[str]:
        return [c.channel for c in self.channels]

    @property
    def control_names(self) -> list[str]:
        return [c.name for c in self.controls]

    @property
    def media_channels(self) -> list[ChannelInput]:
        """Paid channels whose media is impressions or spend (Meridian's ``media_channel``)."""
        return [c for c in self.channels if not c.is_rf]

    @property
    def rf_channels(self) -> list[ChannelInput]:
        """Reach-and-frequency channels (Meridian's ``rf_channel``)."""
        return [c for c in self.channels if c.is_rf]

    @property
    def organic_names(self) -> list[str]:
        return [o.name for o in self.organic]

    @property
    def treatment_names(self) -> list[str]:
        return [t.name for t in self.treatments]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model"] = "geo" if self.is_geo else "national"
        data["inputs_file"] = INPUTS_FILE
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("version") != SPEC_VERSION:
            raise MissingArtifactError(f"feature_spec.json has version {data.get('version')}, expected {SPEC_VERSION}",
                                       where=SPEC_FILE, fix="re-run `mmm features`")
        channels = [ChannelInput(**{**c, "priors": ChannelPriors.from_dict(c["priors"])}) for c in data["channels"]]
        controls = [ControlInput(**c) for c in data["controls"]]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        return cls(**{**known, "channels": channels, "controls": controls,
                      "organic": [OrganicInput(**o) for o in data.get("organic", [])],
                      "treatments": [ControlInput(**t) for t in data.get("treatments", [])],
                      "experiments": [ExperimentInput(**e) for e in data.get("experiments", [])]})

    @classmethod
    def read(cls, path: str | Path) -> FeatureSpec:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
