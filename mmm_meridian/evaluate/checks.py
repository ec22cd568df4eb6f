"""Digital checks (model vs platform-reported revenue) and business-logic checks of a fitted model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mmm_meridian import frame as cols
from mmm_meridian.evaluate.metrics import Check, judge


def platform_revenue(clean: pd.DataFrame, channels: list[str], times: list[str]) -> dict[str, float]:
    """Platform-reported revenue per channel over the modelled weeks (channels without the column are left out)."""
    weeks = pd.to_datetime(clean[cols.TIME]).dt.strftime("%Y-%m-%d")
    rows = clean[weeks.isin(times)]
    return {c: float(rows[cols.platform_revenue(c)].sum()) for c in channels
            if cols.platform_revenue(c) in rows.columns and rows[cols.platform_revenue(c)].notna().any()}


def digital_checks(model_revenue: Mapping[str, float], platform: Mapping[str, float], bounds: list[float],
                   blocking: list[str]) -> tuple[list[dict], Check]:
    """Ratio of model-estimated incremental revenue to platform-reported revenue, per channel.

    Platforms attribute revenue to themselves generously (last click, view-through), so the ratio is expected
    below 1; outside ``bounds`` a channel is flagged.

    Returns:
        One row per channel with a platform figure, and the overall check (passes when no channel is flagged).
    """
    lo, hi = bounds
    rows = []
    for channel, reported in platform.items():
        ratio = model_revenue[channel] / reported if reported > 0 else np.nan
        flagged = not (np.isfinite(ratio) and lo <= ratio <= hi)
        rows.append({"channel": channel, "model_incremental_revenue": float(model_revenue[channel]),
                     "platform_revenue": reported, "ratio": float(ratio), "flagged": flagged})
    flagged = [r["channel"] for r in rows if r["flagged"]]
    detail = (f"ratio outside [{lo}, {hi}] for {flagged}" if flagged else f"every ratio within [{lo}, {hi}]") \
        if rows else "no platform-reported revenue mapped (data.platform_reported_map)"
    check = judge("digital_checks", float(len(flagged)), 0.0 if rows else None, "max", blocking, detail)
    return rows, check


def roi_bounds_check(roi: pd.DataFrame, roi_bounds: Mapping[str, list[float]], blocking: list[str]
                     ) -> tuple[list[dict], Check]:
    """Posterior-mean ROI of each channel with ``model.priors.roi_bounds`` inside those bounds."""
    rows = []
    for row in roi.itertuples():
        if row.channel in roi_bounds:
            lo, hi = roi_bounds[row.channel]
            rows.append({"channel": row.channel, "roi_mean": float(row.roi_mean), "bounds": [lo, hi],
                         "inside": bool(lo <= row.roi_mean <= hi)})
    outside = [r["channel"] for r in rows if not r["inside"]]
    detail = (f"outside their bounds: {outside}" if outside else "all inside their bounds") if rows else \
        "no model.priors.roi_bounds configured"
    return rows, judge("roi_bounds", float(len(outside)), 0.0 if rows else None, "max", blocking, detail)


def media_share_check(media_revenue: float, total_revenue: float, share_range: list[float],
                      blocking: list[str]) -> Check:
    """Share of revenue the model attributes to paid media, within ``share_range``."""
    share = media_revenue / total_revenue if total_revenue else np.nan
    lo, hi = share_range
    inside = bool(np.isfinite(share) and lo <= share <= hi)
    return Check("media_share", float(share), None, "range", inside, "media_share" in blocking,
                 f"expected within [{lo}, {hi}]")
