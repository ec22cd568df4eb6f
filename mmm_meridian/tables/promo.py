"""Which rows fall in a promotion week: ``data.promo_col`` > 0 on any day of the week, or a ``promo_calendar`` period.

Transform exempts these rows from outlier capping (``enhanced_cleaning.outliers.exempt_promo_periods``); validate
reports the spikes it finds inside and outside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.tables.weekly import week_start


def promo_mask(std: pd.DataFrame, cfg: MMMConfig, frequency: str) -> np.ndarray:
    """True on rows inside a promotion week (promo column or calendar)."""
    weeks = week_start(std[F.TIME], cfg, frequency)
    in_promo = pd.Series(False, index=std.index)
    if F.PROMO in std.columns:
        promo_week = (std[F.PROMO].fillna(0) > 0).groupby([std[F.GEO], weeks]).transform("max")
        in_promo |= promo_week.astype(bool)
    for period in cfg.enhanced_cleaning.outliers.promo_calendar:
        start, _, end = str(period).partition("..")
        first, last = pd.Timestamp(start.strip()), pd.Timestamp((end or start).strip())
        in_promo |= (weeks >= week_start(pd.Series([first]), cfg, frequency).iloc[0]) & (std[F.TIME] <= last)
    return in_promo.to_numpy()
