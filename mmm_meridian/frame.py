"""Column names of the canonical weekly table that ingest builds and transform cleans (``transform/clean.parquet``).

One row per (geo, week): ``time`` (week start, datetime64), ``geo`` (series id; "national" for a single series),
``revenue`` (the KPI), then per channel ``<channel>_spend``, ``<channel>_impressions`` / ``<channel>_clicks`` (when
mapped) and ``<channel>_platform_revenue`` (platform-reported revenue, when mapped), ``promo`` (share of promo days
in the week, when mapped), each control under its own name, and ``population`` (when mapped; else absent).
"""

from __future__ import annotations

TIME = "time"
GEO = "geo"
REVENUE = "revenue"
PROMO = "promo"
POPULATION = "population"
NATIONAL = "national"


def spend(channel: str) -> str:
    return f"{channel}_spend"


def impressions(channel: str) -> str:
    return f"{channel}_impressions"


def clicks(channel: str) -> str:
    return f"{channel}_clicks"


def platform_revenue(channel: str) -> str:
    return f"{channel}_platform_revenue"


def additive_columns(channels: list[str], columns: list[str]) -> list[str]:
    """Columns that add up across days, rows and duplicates (present in ``columns``)."""
    wanted = [REVENUE] + [f(c) for c in channels for f in (spend, impressions, clicks, platform_revenue)]
    return [c for c in wanted if c in columns]
