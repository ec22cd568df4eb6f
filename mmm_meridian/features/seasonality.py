"""Time features: annual Fourier terms, public holidays, custom business events and Meridian's knots.

Fourier terms, custom events and the trend vary over time only (the same value for every geo). Holidays follow each
series' own country (:func:`resolve_calendars`): when every geo has the same calendar they are time-only too; when geos
have different calendars (a geo model across countries) the holiday controls vary by geo and week. Each feature is a
weekly control column named after what it measures, so ``feature_spec.json`` and the report can say which seasonality
terms the model used.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.config.data import DataConfig
from mmm_meridian.config.modeling import AUTO_COUNTRY, CustomEvent, HolidaysConfig, SeasonalityConfig
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


# Key columns whose values name a country (data.keys / data.geo_col), matched case-insensitively.
COUNTRY_KEY = re.compile(r"territor|country", re.IGNORECASE)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@functools.lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Every spelling the ``holidays`` package knows for a country -> its ISO alpha-2 code.

    ISO alpha-2 and alpha-3 codes, the package's aliases (``UK``) and the country's name (``United Kingdom``), all
    compared without case, spaces or punctuation.
    """
    import holidays  # imported here: only needed when holidays are enabled

    names: dict[str, str] = {}
    try:
        from holidays.registry import COUNTRIES
    except ImportError:  # an older holidays package: alpha-2 codes only
        COUNTRIES = {}  # noqa: N806
    # The registry first: the supported-country list also holds aliases (UK), which must map to the ISO code (GB).
    for module, (cls_name, alpha2, *aliases) in COUNTRIES.items():
        for spelling in (module, cls_name, alpha2, *aliases):
            names.setdefault(_normalise(str(spelling)), alpha2)
    for code in holidays.list_supported_countries():
        if len(code) == 2:
            names.setdefault(_normalise(code), code)
    return names


def country_code(value: Any) -> str | None:
    """The ISO alpha-2 code of a territory value (``GB``, ``gbr``, ``UK``, ``United Kingdom``), or None."""
    if value is None:
        return None
    return _country_names().get(_normalise(str(value)))


def resolve_calendars(geos: list[str], config: HolidaysConfig, data: DataConfig) -> dict[str, dict[str, Any]]:
    """The holiday calendar of each geo and where it came from: ``{geo: {country, subdivision, source}}``.

    ``features.seasonality.holidays.country`` decides: one code for every geo, or a mapping geo -> code; geos it does
    not name (and every geo under ``auto``) take the country of their series: the geo's value when ``data.geo_col`` is
    a territory / country key, else a ``data.series`` filter selecting one value of such a key. A geo left without a
    country gets ``fallback_country`` (logged as a warning); with no fallback it is a configuration error.

    Raises:
        ConfigError: a configured code is unknown to the ``holidays`` package, or a geo has no country and
            ``fallback_country`` is null.
    """
    where = "config key features.seasonality.holidays.country"
    configured: Mapping[str, str] = config.country if isinstance(config.country, Mapping) else {}
    unknown_geos = sorted(set(configured) - set(geos))
    if unknown_geos:
        raise ConfigError(f"features.seasonality.holidays.country maps geo(s) {unknown_geos} that are not in the data",
                          where=where, fix=f"map the model's geos {geos}")
    single = config.country if isinstance(config.country, str) and config.country != AUTO_COUNTRY else None
    key_filter = [(k, v) for k, v in data.series.items()
                  if COUNTRY_KEY.search(k) and v is not None and (not isinstance(v, (list, tuple)) or len(v) == 1)]
    calendars: dict[str, dict[str, Any]] = {}
    for geo in geos:
        if geo in configured or single is not None:
            wanted = configured.get(geo, single)
            source = (f"features.seasonality.holidays.country.{geo}" if geo in configured else
                      "features.seasonality.holidays.country")
            code = country_code(wanted)
            if code is None:
                raise ConfigError(f"the holidays package does not know country {wanted!r} (for geo {geo})",
                                  where=f"config key {source}",
                                  fix="use an ISO country code such as GB, US, DE or FR, or auto")
        else:
            code, source = None, ""
            if data.geo_col and COUNTRY_KEY.search(data.geo_col) and geo != cols.NATIONAL:
                code, source = country_code(geo), f"data.geo_col {data.geo_col}={geo}"
            for key, value in key_filter:
                if code is None:
                    value = value[0] if isinstance(value, (list, tuple)) else value
                    code, source = country_code(value), f"data.series.{key}={value}"
            if code is None:
                if config.fallback_country is None:
                    raise ConfigError(f"no holiday calendar for geo {geo!r}: its series has no territory or country "
                                      "that the holidays package knows, and fallback_country is null", where=where,
                                      fix=f"set features.seasonality.holidays.country (e.g. GB, or {{{geo}: GB}}), "
                                          "or fallback_country")
                code = country_code(config.fallback_country)
                if code is None:
                    raise ConfigError(f"the holidays package does not know country {config.fallback_country!r}",
                                      where="config key features.seasonality.holidays.fallback_country",
                                      fix="use an ISO country code such as US or GB")
                source = "fallback_country (no territory or country found for this series)"
                log.warning("features: holidays: no country found for geo %s (no data.geo_col or data.series value of "
                            "a territory / country key that the holidays package knows): the %s calendar "
                            "(features.seasonality.holidays.fallback_country) is used; set "
                            "features.seasonality.holidays.country to choose", geo, code)
        calendars[geo] = {"country": code, "subdivision": config.subdivision, "source": source}
    for geo, calendar in calendars.items():
        log.info("features: holidays: geo %s uses the %s%s calendar (%s)", geo, calendar["country"],
                 f"-{calendar['subdivision']}" if calendar["subdivision"] else "", calendar["source"])
    return calendars


def _country_holidays(country: str, subdivision: str | None, years: list[int]) -> dict:
    import holidays  # imported here: only needed when holidays are enabled

    try:
        return dict(holidays.country_holidays(country, subdiv=subdivision, years=years))
    except (NotImplementedError, KeyError) as exc:
        supported = sorted(holidays.list_supported_countries())
        raise ConfigError(f"the holidays package does not know country={country!r} "
                          f"subdivision={subdivision!r} ({exc})",
                          where="config key features.seasonality.holidays",
                          fix=f"use an ISO country code such as {', '.join(supported[:12])}, ... "
                              "(and a subdivision that country defines, or null)") from exc


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")


def holiday_features(weeks: pd.DatetimeIndex, config: HolidaysConfig,
                     country: str | None = None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``holiday_days`` (public holiday days in each week) and one indicator per ``separate`` holiday name.

    Args:
        weeks: week starts.
        config: the holidays settings (``subdivision``, ``separate``).
        country: the calendar's ISO code; None: ``config.country``, which must then be a single code.

    Returns:
        The feature frame (indexed by week) and, per column, the holiday dates it counts (ISO strings).
    """
    country = country if country is not None else config.country
    if not isinstance(country, str) or country == AUTO_COUNTRY:
        raise ConfigError(f"holiday_features needs one country, got {country!r}",
                          where="config key features.seasonality.holidays.country",
                          fix="resolve the calendars per geo first (resolve_calendars)")
    years = sorted({d.year for d in weeks} | {(d + pd.Timedelta(days=6)).year for d in weeks})
    calendar = _country_holidays(country, config.subdivision, years)
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
            log.warning("features: no %s holiday named like %r in the data's period", country, wanted)
    return frame, sources


def geo_holiday_features(weeks: pd.DatetimeIndex, config: HolidaysConfig, calendars: Mapping[str, str]
                         ) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Holiday controls for geos with their own calendars (``calendars``: geo -> country code).

    Returns:
        A frame indexed by (geo, time) with the holiday columns, and per column its description for the feature spec
        (the calendar of each geo and, per country, the holiday dates counted).
    """
    frames, dates = [], {}
    by_country: dict[str, tuple[pd.DataFrame, dict[str, list[str]]]] = {}
    for geo, country in calendars.items():
        if country not in by_country:
            by_country[country] = holiday_features(weeks, config, country)
        frame = by_country[country][0]
        frames.append(frame.set_axis(pd.MultiIndex.from_product([[geo], weeks], names=[cols.GEO, cols.TIME])))
    for country, (_, sources) in by_country.items():
        dates[country] = sources
    combined = pd.concat(frames).fillna(0.0)
    terms = {col: {"kind": "holiday", "calendars": dict(calendars), "subdivision": config.subdivision,
                   "dates": {country: sources.get(col, []) for country, sources in dates.items()}}
             for col in combined.columns}
    for col, wanted in {f"holiday_{_slug(n)}": n for n in config.separate}.items():
        if not combined[col].any():
            log.warning("features: no holiday named like %r in any geo's calendar; its control is dropped", wanted)
    return combined, terms


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
    """Calendar controls and the knots chosen for Meridian."""

    frame: pd.DataFrame  # time-only controls, indexed by week
    terms: dict[str, dict] = field(default_factory=dict)  # column -> description for feature_spec.json
    knots: int | None = None  # Meridian's `knots` argument (None: Meridian's default)
    knots_reason: str = ""
    # Controls that differ by geo (holidays when geos have different calendars), indexed by (geo, time).
    geo_frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    # The baseline's trend (features.baseline.trend): {"enabled": bool, "how": how the model carries it, or "none"}.
    trend: dict[str, object] = field(default_factory=dict)


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


def time_features(weeks: pd.DatetimeIndex, n_geos: int, config: SeasonalityConfig, trend: bool,
                  calendars: Mapping[str, str] | None = None) -> TimeFeatures:
    """Every calendar control the seasonality and trend settings ask for, with the knots that go with them.

    Args:
        weeks: the model's weeks.
        n_geos: number of geos (a geo model's knots depend on it).
        config: ``features.seasonality``.
        trend: ``features.baseline.trend``. False gives Meridian one knot (a flat baseline: no trend, the
            calendar controls still carry seasonality), whatever ``knot_every_weeks`` says.
        calendars: geo -> holiday country code (:func:`resolve_calendars`). One calendar for every geo gives
            time-only holiday controls; different calendars give per-geo controls in ``geo_frame``. None: one calendar,
            ``holidays.country`` when it is a single code, else ``holidays.fallback_country``.
    """
    parts: list[pd.DataFrame] = []
    terms: dict[str, dict] = {}
    geo_frame = pd.DataFrame()
    if config.annual and config.fourier_terms > 0:
        frame = fourier_terms(weeks, config.fourier_terms)
        parts.append(frame)
        terms.update({col: {"kind": "annual_fourier", "period_days": DAYS_PER_YEAR} for col in frame})
    if config.holidays.enabled:
        if calendars is None:
            single = config.holidays.country
            calendars = {"*": single if isinstance(single, str) and single != AUTO_COUNTRY
                         else config.holidays.fallback_country}
        countries = sorted(set(calendars.values()))
        if len(countries) == 1:
            frame, sources = holiday_features(weeks, config.holidays, countries[0])
            parts.append(frame)
            terms.update({col: {"kind": "holiday", "country": countries[0], "subdivision": config.holidays.subdivision,
                                "dates": sources[col]} for col in frame})
        else:
            geo_frame, geo_terms = geo_holiday_features(weeks, config.holidays, calendars)
            terms.update(geo_terms)
    if config.custom_events:
        frame = event_features(weeks, config.custom_events)
        parts.append(frame)
        terms.update({f"event_{_slug(e.name)}": {"kind": "custom_event", "dates": list(e.dates)}
                      for e in config.custom_events})
    combined = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=weeks)
    # Constant columns (e.g. no holiday in the period) carry no information and make Meridian's EDA fail.
    for table in (combined, geo_frame):
        constant = [col for col in table if table[col].nunique() <= 1]
        for col in constant:
            log.warning("features: calendar control %s is constant over the data's period and is dropped", col)
            terms.pop(col, None)
        table.drop(columns=constant, inplace=True)
    if not trend:
        # Meridian's intercept with 2+ knots moves over time (a piecewise-linear trend); one knot keeps it constant.
        # Seasonality stays in the calendar controls above, so only the slow drift of the baseline goes.
        knots = 1
        reason = ("features.baseline.trend=false: one knot, i.e. a flat baseline with no time-varying trend "
                  f"(features.seasonality.knot_every_weeks={config.knot_every_weeks} not used); seasonality stays "
                  "in the calendar controls")
        return TimeFeatures(frame=combined, terms=terms, knots=knots, knots_reason=reason, geo_frame=geo_frame,
                            trend={"enabled": False, "how": "none: one knot, a flat baseline (features.baseline."
                                   "trend=false)"})
    knots, reason = choose_knots(len(weeks), n_geos, config, has_time_only_controls=not combined.empty)
    if knots is not None and knots == 1 or knots is None and n_geos == 1:
        # One knot is a constant intercept: a linear trend has to be a control of its own.
        combined["trend"] = np.linspace(0.0, 1.0, len(weeks))
        terms["trend"] = {"kind": "trend", "note": "linear 0..1 over the period (single knot)"}
    else:
        terms["trend"] = {"kind": "trend", "note": f"spanned by Meridian's piecewise-linear knots ({knots})"}
    return TimeFeatures(frame=combined, terms=terms, knots=knots, knots_reason=reason, geo_frame=geo_frame,
                        trend={"enabled": True, "how": terms["trend"]["note"]})
