"""The features stage's contract with the model engines (core, shared by every stage): ``feature_spec.json`` plus ``model_inputs.parquet``.

``model_inputs.parquet`` holds one row per (geo, week): ``time``, ``geo``, ``revenue``, ``population``, per channel
``<channel>__media`` (what Meridian's Hill/adstock act on) and ``<channel>__spend``, then every control by name.
``feature_spec.json`` says what each column is and which priors the model must use (see :class:`FeatureSpec`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmm_meridian.errors import MissingArtifactError


@dataclass(frozen=True)
class ChannelPriors:
    """The prior parameters of one channel and where each came from (``default`` / ``override`` / ``roi_bounds``)."""

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelPriors:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]


SPEC_VERSION = 1
SPEC_FILE = "feature_spec.json"
INPUTS_FILE = "model_inputs.parquet"


def media_column(channel: str) -> str:
    return f"{channel}__media"


def spend_column(channel: str) -> str:
    return f"{channel}__spend"


@dataclass(frozen=True)
class ChannelInput:
    """One media channel: the data feeding it and its priors."""

    channel: str
    media_source: str  # "impressions" or "spend"
    source_column: str  # column of the clean table the media came from
    total_spend: float
    priors: ChannelPriors


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
    # The baseline's trend (features.baseline.trend): {"enabled": bool, "how": knots, a linear control, or none}.
    trend: dict[str, Any] = field(default_factory=dict)
    kpi: str = "revenue"
    kpi_type: str = "revenue"
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
        return cls(**{**known, "channels": channels, "controls": controls})

    @classmethod
    def read(cls, path: str | Path) -> FeatureSpec:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
