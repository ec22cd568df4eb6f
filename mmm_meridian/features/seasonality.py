"""Time features: annual Fourier terms, public holidays, custom business events and Meridian's knots.

All features here vary over time only (the same value for every geo). Each is a weekly control column named after
what it measures, so ``feature_spec.json`` and the report can say which seasonality terms the model used.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmm_meridian.config.modeling import CustomEvent, HolidaysConfig, SeasonalityConfig
from mmm_meridian.errors import ConfigError

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.25


def fourier_terms(weeks: pd.DatetimeIndex, n_terms: int) -> pd.DataFrame:
    """Annual Fourier pairs ``annual_sin_<j>`` / ``annual_cos_<j>`` for j = 1..n_terms, at each week's mid-point.

    The phase is the day of year (so the same calendar week gets the same value every year).
    """
    mid = weeks + pd.Timedelta(days=3)
    phase = 2 * np.pi * (mid.dayofyear.to_numpy() - 1) / DAYS_PER_YEAR
    columns: dict[str, np.ndarray] = {}
    for j in range(1, n_terms + 1):
        columns[f"annual_sin_{j}"] = np.sin(j * phase)
        columns[f"annual_cos_{j}"] = np.cos(j * phase)
    return pd.DataFrame(columns, index=weeks)


def _country_holidays(config: HolidaysConfig, years: list[int]) -> dict:
    import holidays  # imported here: only needed when holidays are enabled

    try:
        return dict(holidays.country_holidays(config.country, subdiv=config.subdivision, years=years))
    except (NotImplementedError, KeyError) as exc:
        supported = sorted(holidays.list_supported_countries())
        raise ConfigError(f"the holidays package does not know country={config.country!r} "
                          f"subdivision={config.subdivision!r} ({exc})",
                          where="config key features.seasonality.holidays",
                          fix=f"use an ISO country code such as {', '.join(supported[:12])}, ... "
                              "(and a subdivision that country defines, or null)") from exc


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")


def holiday_features(weeks: pd.DatetimeIndex, config: HolidaysConfig) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``holiday_days`` (public holiday days in each week) and one indicator per ``separate`` holiday name.

    Returns:
        The feature frame (indexed by week) and, per column, the holiday dates it counts (ISO strings).
    """
    years = sorted({d.year for d in weeks} | {(d + pd.Timedelta(days=6)).year for d in weeks})
    calendar = _country_holidays(config, years)
    starts = weeks.to_numpy().astype("datetime64[D]")
    counts = np.zeros(len(weeks))
    separate = {f"holiday_{_slug(name)}": name for name in config.separate}
    indicators = {col: np.zeros(len(weeks)) for col in separate}
    sources: dict[str, list[str]] = {"holiday_days": [], **{col: [] for col in separate}}
    for day, name in sorted(calendar.items()):
        offset = (np.datetime64(day, "D") - starts).astype(int)
        hit = np.flatnonzero((offset >= 0) & (offset < 7))
        if hit.size == 0:
            continue
        counts[hit] += 1
        sources["holiday_days"].append(f"{day.isoformat()} {name}")
        for col, wanted in separate.items():
            if wanted.lower() in str(name).lower():
                indicators[col][hit] = 1.0
                sources[col].append(f"{day.isoformat()} {name}")
    frame = pd.DataFrame({"holiday_days": counts, **indicators}, index=weeks)
    for col, wanted in separate.items():
        if not sources[col]:
            log.warning("features: no %s holiday named like %r in the data's period; its control is dropped",
                        config.country, wanted)
    return frame, sources


def _event_days(event: CustomEvent) -> list[pd.Timestamp]:
    days: list[pd.Timestamp] = []
    for entry in event.dates:
        try:
            if "/" in entry:
                start, end = (pd.Timestamp(part) for part in entry.split("/", 1))
                days.extend(pd.date_range(start, end, freq="D"))
            else:
                days.append(pd.Timestamp(entry))
        except ValueError as exc:
            raise ConfigError(f"custom event {event.name!r} has an unreadable date {entry!r}",
                              where="config key features.seasonality.custom_events",
                              fix="write dates as YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD") from exc
    return days


def event_features(weeks: pd.DatetimeIndex, events: list[CustomEvent]) -> pd.DataFrame:
    """One indicator column ``event_<name>`` per custom event: 1 in weeks containing any of its days."""
    columns: dict[str, np.ndarray] = {}
    starts = weeks.to_numpy().astype("datetime64[D]")
    for event in events:
        values = np.zeros(len(weeks))
        for day in _event_days(event):
            offset = (np.datetime64(day.date(), "D") - starts).astype(int)
            values[(offset >= 0) & (offset < 7)] = 1.0
        columns[f"event_{_slug(event.name)}"] = values
    return pd.DataFrame(columns, index=weeks)


@dataclass
class TimeFeatures:
    """Time-only controls and the knots chosen for Meridian."""

    frame: pd.DataFrame  # indexed by week
    terms: dict[str, dict] = field(default_factory=dict)  # column -> description for feature_spec.json
    knots: int | None = None  # Meridian's `knots` argument (None: Meridian's default)
    knots_reason: str = ""


def choose_knots(n_weeks: int, n_geos: int, config: SeasonalityConfig, has_time_only_controls: bool) -> tuple[
        int | None, str]:
    """Meridian's ``knots`` for this data: one knot every ``knot_every_weeks`` (including both ends).

    A geo model left on Meridian's default (a knot per week) cannot take time-only controls, so it gets one knot every
    ``geo_knot_every_weeks`` weeks instead, and the reason is returned for the log and the feature spec.
    """
    every = config.knot_every_weeks
    if every is None:
        if n_geos > 1 and has_time_only_controls:
            every = config.geo_knot_every_weeks
            reason = (f"geo model with time-only controls: Meridian's default of one knot per week would make them "
                      f"collinear with time, so one knot every {every} weeks is used "
                      "(set features.seasonality.knot_every_weeks to choose)")
        else:
            return None, "Meridian's default (1 knot for a national model, one per week for a geo model)"
    else:
        reason = f"one knot every {every} weeks (features.seasonality.knot_every_weeks)"
    knots = max(1, min(n_weeks, math.ceil((n_weeks - 1) / every) + 1))
    return knots, reason


def time_features(weeks: pd.DatetimeIndex, n_geos: int, config: SeasonalityConfig, trend: bool) -> TimeFeatures:
    """Every time-only control the seasonality and trend settings ask for, with the knots that go with them."""
    parts: list[pd.DataFrame] = []
    terms: dict[str, dict] = {}
    if config.annual and config.fourier_terms > 0:
        frame = fourier_terms(weeks, config.fourier_terms)
        parts.append(frame)
        terms.update({col: {"kind": "annual_fourier", "period_days": DAYS_PER_YEAR} for col in frame})
    if config.weekly:
        log.warning("features: features.seasonality.weekly is ignored: the model is weekly, so day-of-week effects "
                    "cancel out within each week")
    if config.holidays.enabled:
        frame, sources = holiday_features(weeks, config.holidays)
        parts.append(frame)
        terms.update({col: {"kind": "holiday", "country": config.holidays.country,
                            "subdivision": config.holidays.subdivision, "dates": sources[col]} for col in frame})
    if config.custom_events:
        frame = event_features(weeks, config.custom_events)
        parts.append(frame)
        terms.update({f"event_{_slug(e.name)}": {"kind": "custom_event", "dates": list(e.dates)}
                      for e in config.custom_events})
    combined = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=weeks)
    # Constant columns (e.g. no holiday in the period) carry no information and make Meridian's EDA fail.
    constant = [col for col in combined if combined[col].nunique() <= 1]
    for col in constant:
        log.warning("features: time control %s is constant over the data's period and is dropped", col)
        terms.pop(col, None)
    combined = combined.drop(columns=constant)
    knots, reason = choose_knots(len(weeks), n_geos, config, has_time_only_controls=not combined.empty)
    if trend and (knots is not None and knots == 1 or knots is None and n_geos == 1):
        # One knot is a constant intercept: a linear trend has to be a control of its own.
        combined["trend"] = np.linspace(0.0, 1.0, len(weeks))
        terms["trend"] = {"kind": "trend", "note": "linear 0..1 over the period (single knot)"}
    elif trend:
        terms["trend"] = {"kind": "trend", "note": f"spanned by Meridian's piecewise-linear knots ({knots})"}
    return TimeFeatures(frame=combined, terms=terms, knots=knots, knots_reason=reason)
