"""Which user column the config maps to which canonical column (see :mod:`mmm_meridian.frame`).

Ingest maps and checks the columns with it; validate names the user's columns in its messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig


@dataclass(frozen=True)
class ColumnRole:
    column: str  # user's column
    target: str  # canonical name
    key: str  # config key that mapped it


def column_roles(cfg: MMMConfig) -> list[ColumnRole]:
    """Every user column the config maps, with its canonical name and the config key that names it."""
    d = cfg.data
    roles = [ColumnRole(d.date_col, F.TIME, "data.date_col"), ColumnRole(d.revenue_col, F.REVENUE, "data.revenue_col")]
    if d.revenue_per_kpi_col:
        roles.append(ColumnRole(d.revenue_per_kpi_col, F.REVENUE_PER_KPI, "data.revenue_per_kpi_col"))
    for mapping, target, key in ((d.channel_map, F.spend, "channel_map"), (d.impressions_map, F.impressions,
                                 "impressions_map"), (d.clicks_map, F.clicks, "clicks_map"),
                                 (d.platform_reported_map, F.platform_revenue, "platform_reported_map"),
                                 (d.reach_map, F.reach, "reach_map"), (d.frequency_map, F.frequency, "frequency_map"),
                                 (d.organic_map, F.organic, "organic_map")):
        roles += [ColumnRole(col, target(ch), f"data.{key}.{ch}") for ch, col in mapping.items()]
    roles += [ColumnRole(c, c, "data.non_media_treatments") for c in d.non_media_treatments]
    roles += [ColumnRole(c, c, "data.controls") for c in d.controls]
    if d.promo_col:
        roles.append(ColumnRole(d.promo_col, F.PROMO, "data.promo_col"))
    if d.population_col:
        roles.append(ColumnRole(d.population_col, F.POPULATION, "data.population_col"))
    return roles
