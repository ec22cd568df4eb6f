"""The weekly grain: the input's frequency, the week a date falls in, and the aggregation to one row per week.

Ingest aggregates the standardized rows to weeks with :func:`to_weekly`; transform runs the same aggregation after
cleaning, and anchors its per-week decisions (dropped or excluded KPI weeks, promotion weeks) with :func:`week_start`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError

WEEKDAY = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}


def week_start(times: pd.Series, cfg: MMMConfig, frequency: str) -> pd.Series:
    """The week each date is aggregated into (``data.week_start`` for daily input; weekly dates are their week)."""
    if frequency != "daily":
        return times
    anchor = WEEKDAY[cfg.data.week_start.value]
    return times - pd.to_timedelta((times.dt.weekday - anchor) % 7, unit="D")


def detect_frequency(std: pd.DataFrame) -> str:
    """'daily' or 'weekly' from the spacing of distinct dates per geo; anything else is an error."""
    steps = std.drop_duplicates([F.GEO, F.TIME]).groupby(F.GEO)[F.TIME].diff().dropna().dt.days
    if steps.empty:
        raise DataError("the data has a single date per series", where="the date column",
                        fix="provide at least 52 weeks of daily or weekly rows")
    step = float(np.median(steps))
    if step == 1:
        return "daily"
    if step == 7:
        return "weekly"
    raise DataError(f"dates are {step:g} days apart (median), neither daily nor weekly", where="the date column",
                    fix="provide daily or weekly rows")


def to_weekly(std: pd.DataFrame, cfg: MMMConfig, frequency: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Aggregate standardized rows to one row per (geo, week); returns the table and what was done."""
    freq = cfg.data.frequency.value
    freq = detect_frequency(std) if freq == "auto" else freq
    if frequency:
        freq = frequency
    channels = list(cfg.data.channel_map)
    if freq == "daily" and cfg.data.reach_map:
        raise DataError(f"reach and frequency (data.reach_map: {sorted(cfg.data.reach_map)}) cannot be made weekly "
                        "from daily rows: people reached on several days are not the sum of each day's reach",
                        where="config keys data.reach_map, data.frequency (daily input)",
                        fix="supply weekly reach and frequency (the platform's weekly figures), or model the channel "
                            "by its impressions (data.impressions_map)")
    columns = [c for c in std.columns if c not in (F.TIME, F.GEO)]
    additive = F.additive_columns(channels, columns, cfg.data.organic_map)
    info: dict = {"input_frequency": freq, "dropped_partial_weeks": []}
    week = week_start(std[F.TIME], cfg, freq)
    work = std.assign(**{F.TIME: week, "_days": std[F.TIME]})
    rules = {c: (lambda s: s.sum(min_count=1)) for c in additive}
    rules.update({c: cfg.data.control_aggregation.value for c in [*cfg.data.controls, *cfg.data.non_media_treatments]})
    for column in [F.reach(c) for c in cfg.data.reach_map] + [F.frequency(c) for c in cfg.data.frequency_map]:
        rules[column] = "mean"  # weekly input: one value per week, nothing is combined
    if F.REVENUE_PER_KPI in columns:  # money per unit of a week: total money / total units (units-weighted mean)
        work["_kpi_money"] = work[F.REVENUE] * work[F.REVENUE_PER_KPI]
        rules["_kpi_money"] = lambda s: s.sum(min_count=1)
        rules[F.REVENUE_PER_KPI] = "mean"
        columns = [*columns, "_kpi_money"]
    if F.PROMO in columns:
        rules[F.PROMO] = "mean"
    if F.POPULATION in columns:
        rules[F.POPULATION] = "mean"
    grouped = work.groupby([F.GEO, F.TIME], sort=True)
    weekly = grouped.agg({c: rules[c] for c in columns if c in rules}).reset_index()
    if "_kpi_money" in weekly:
        units = weekly[F.REVENUE].where(weekly[F.REVENUE] != 0)
        weekly[F.REVENUE_PER_KPI] = (weekly.pop("_kpi_money") / units).fillna(weekly[F.REVENUE_PER_KPI])
    if freq == "daily":
        days = grouped["_days"].nunique().reset_index(drop=True)
        partial = days < cfg.data.min_days_per_week
        edge = weekly.groupby(F.GEO)[F.TIME].transform(lambda s: (s == s.min()) | (s == s.max()))
        drop = partial & edge
        info["dropped_partial_weeks"] = [f"{g} {t.date()}" for g, t in weekly.loc[drop, [F.GEO, F.TIME]].values]
        weekly = weekly[~drop].reset_index(drop=True)
    info["weeks"] = int(weekly[F.TIME].nunique())
    return weekly, info
