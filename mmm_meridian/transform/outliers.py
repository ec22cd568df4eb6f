"""Outliers: values above a cap computed within their context (series x column x season), promotion periods exempt.

A value's context is its series and column and its local level: the rolling median of the neighbouring periods
(``LOCAL_WINDOW``), so a seasonal peak is not mistaken for a spike and a spike in a quiet month is not hidden by the
busy season. Each value is compared with its local level as a ratio; ``contextual_winsorization`` caps the ratio at
its ``winsorize_percentile`` over the series, ``iqr`` at Q3 + ``iqr_multiplier`` x IQR of the ratios, ``none`` leaves
the data alone; a capped value becomes local level x cap ratio. Only the upper tail is capped: low values (a dark week, zero spend) carry
meaning in a marketing mix, spikes are what distort it. When ``exempt_promo_periods`` is on, rows in promotion weeks
(``data.promo_col`` > 0 on any day of the week, or a ``promo_calendar`` period: :func:`promo_mask`) are neither capped
nor used to compute the cap, so a promotion's real peak survives and does not raise the bar for the other weeks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.quality import OutlierPolicy
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.tables.promo import promo_mask
from mmm_meridian.transform.cleaning_log import CleaningLog
from mmm_meridian.transform.missing import EXCLUDED

_FAMILIES = {"spend": F.spend, "impressions": F.impressions, "clicks": F.clicks,
             "platform_revenue": F.platform_revenue}
LOCAL_WINDOW = {"daily": 15, "weekly": 5}


def target_columns(std: pd.DataFrame, cfg: MMMConfig) -> list[str]:
    """Canonical columns named by ``enhanced_cleaning.outliers.targets`` that the data has."""
    columns: list[str] = []
    for target in cfg.enhanced_cleaning.outliers.targets:
        if target == "revenue":
            columns.append(F.REVENUE)
        elif target in _FAMILIES:
            columns += [_FAMILIES[target](ch) for ch in cfg.data.channel_map]
        elif target in cfg.data.controls:
            columns.append(target)
        else:
            raise ConfigError(f"enhanced_cleaning.outliers.targets holds {target!r}",
                              where="config key enhanced_cleaning.outliers.targets",
                              fix=f"choose from {['revenue', *_FAMILIES, *cfg.data.controls]}")
    return [c for c in columns if c in std.columns]


def cap_ratio(ratios: np.ndarray, cfg: MMMConfig) -> float | None:
    """The cap on value / local level in one context (None: too few values to tell a spike from a peak)."""
    oc = cfg.enhanced_cleaning.outliers
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) < oc.min_context_rows:
        return None
    if oc.policy == OutlierPolicy.iqr:
        q1, q3 = np.percentile(ratios, [25, 75])
        return float(q3 + oc.iqr_multiplier * (q3 - q1))
    return float(np.percentile(ratios, oc.winsorize_percentile))


def local_level(values: pd.Series, exempt: np.ndarray, frequency: str) -> pd.Series:
    """Rolling median of the neighbouring non-exempt periods (promotions do not lift the level)."""
    window = LOCAL_WINDOW.get(frequency, 5)
    return values.where(~exempt).rolling(window, center=True, min_periods=3).median()


def cap_outliers(std: pd.DataFrame, cfg: MMMConfig, frequency: str, log: CleaningLog) -> pd.DataFrame:
    """Cap the configured columns per series; every capped value is logged with its cap."""
    oc = cfg.enhanced_cleaning.outliers
    if oc.policy == OutlierPolicy.none:
        return std
    std = std.sort_values([F.GEO, F.TIME], kind="stable").reset_index(drop=True)
    columns = target_columns(std, cfg)
    exempt = promo_mask(std, cfg, frequency) if oc.exempt_promo_periods else np.zeros(len(std), dtype=bool)
    # Placeholder KPI values (kpi_long_gaps=exclude) are not data: they neither get capped nor shape the caps.
    placeholder = std[EXCLUDED].to_numpy(dtype=bool) if EXCLUDED in std else np.zeros(len(std), dtype=bool)
    rule = f"outliers.{oc.policy.value}"
    for geo, index in std.groupby(F.GEO, sort=False).groups.items():
        rows = np.asarray(index)
        for col in columns:
            skip = exempt[rows] | placeholder[rows] if col == F.REVENUE else exempt[rows]
            values = std.loc[rows, col].astype(float)
            level = local_level(values, skip, frequency).to_numpy()
            # A subnormal level (below float64's smallest normal number) has too few digits for level x cap to be
            # the cap: no level to judge against, like a zero one (found by the property tests, not by real data).
            has_level = level >= np.finfo(np.float64).tiny
            judged = ~skip & has_level & values.notna().to_numpy()
            ratio = np.where(judged, values.to_numpy() / np.where(has_level, level, 1.0), np.nan)
            cap = cap_ratio(ratio[judged], cfg)
            if cap is None:
                log.warn(f"{geo} {col}: fewer than {oc.min_context_rows} values outside promotions; not capped")
                continue
            hit = judged & (ratio > cap)
            if not hit.any():
                continue
            labels = rows[hit]
            before = std.loc[labels, col].to_numpy(dtype=float)
            after = level[hit] * cap
            std.loc[labels, col] = after
            promo_note = " (promotion periods exempt)" if oc.exempt_promo_periods else ""
            log.record(rule, col, str(geo), std.loc[labels, F.TIME], before, after,
                       f"more than {cap:.2f}x its local level{promo_note}: capped at that ratio", cap_ratio=round(cap, 6),
                       exempt_promo_rows=int(exempt[rows].sum()))
    return std
