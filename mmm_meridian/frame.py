"""Column names of the canonical weekly table that ingest builds and transform cleans (``transform/clean.parquet``).

One row per (geo, week): ``time`` (week start, datetime64), ``geo`` (series id; "national" for a single series),
``revenue`` (the KPI), then per channel ``<channel>_spend``, ``<channel>_impressions`` / ``<channel>_clicks`` (when
mapped) and ``<channel>_platform_revenue`` (platform-reported revenue, when mapped), ``<channel>_reach`` and
``<channel>_frequency`` (reach-and-frequency channels), ``<name>_organic`` (organic media volume), ``promo`` (share of
promo days in the week, when mapped), each non-media treatment and control under its own name,
``revenue_per_kpi`` (money per KPI unit, conversions KPIs only) and ``population`` (when mapped; else absent).

``revenue`` holds the KPI: revenue, or the number of conversions when ``data.kpi_type=conversions``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

TIME = "time"
GEO = "geo"
REVENUE = "revenue"
PROMO = "promo"
POPULATION = "population"
NATIONAL = "national"
REVENUE_PER_KPI = "revenue_per_kpi"


def spend(channel: str) -> str:
    return f"{channel}_spend"


def impressions(channel: str) -> str:
    return f"{channel}_impressions"


def clicks(channel: str) -> str:
    return f"{channel}_clicks"


def platform_revenue(channel: str) -> str:
    return f"{channel}_platform_revenue"


def reach(channel: str) -> str:
    return f"{channel}_reach"


def frequency(channel: str) -> str:
    return f"{channel}_frequency"


def organic(name: str) -> str:
    return f"{name}_organic"


def additive_columns(channels: list[str], columns: list[str], organic_names: Iterable[str] = ()) -> list[str]:
    """Columns that add up across days, rows and duplicates (present in ``columns``). Reach and frequency do not:
    people reached on two days are not twice as many people."""
    wanted = [REVENUE] + [f(c) for c in channels for f in (spend, impressions, clicks, platform_revenue)]
    wanted += [organic(name) for name in organic_names]
    return [c for c in wanted if c in columns]


def excluded_rows(table: pd.DataFrame, excluded_weeks: Mapping[str, Iterable[str]], *, geo_col: str = GEO,
                  time_col: str = TIME, any_geo: bool = False) -> pd.Series:
    """True on the rows of ``table`` whose (geo, week) KPI is a placeholder for a long gap (``feature_spec.json``'s
    ``excluded_weeks``, geo -> ISO weeks; ``kpi_long_gaps=exclude``). ``any_geo``: match on the week alone (a table
    whose geo names are not the spec's, e.g. Meridian's renamed national geo)."""
    weeks = pd.to_datetime(table[time_col]).dt.strftime("%Y-%m-%d")
    if any_geo:
        return weeks.isin({w for listed in excluded_weeks.values() for w in listed})
    pairs = {(str(g), w) for g, listed in excluded_weeks.items() for w in listed}
    return pd.Series([(str(g), w) in pairs for g, w in zip(table[geo_col], weeks, strict=True)], index=table.index,
                     dtype=bool)
