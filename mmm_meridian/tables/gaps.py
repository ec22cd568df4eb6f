"""Runs of periods without a KPI (a missing cell, or a period absent from the series' regular grid).

Interpolating weeks or months of sales invents the very thing the model explains, so a KPI gap longer than
``enhanced_cleaning.missing_data.max_gap_days`` is found here (:func:`long_kpi_gaps`) for validate to report (its
``kpi_gaps`` check) and transform to refuse or treat as ``kpi_long_gaps`` says, both worded by
:func:`kpi_gap_summary` and :data:`LONG_GAP_FIX`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig


def step_days(frequency: str) -> int:
    """Days from one period to the next: 1 for daily input, 7 for weekly."""
    return 1 if frequency == "daily" else 7


def nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask``."""
    padded = np.r_[False, mask, False].astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2], strict=True))


@dataclass(frozen=True)
class KpiGap:
    """A run of consecutive periods of one series without a KPI value (missing cell or absent period)."""

    series: str
    first: pd.Timestamp  # first period without a KPI
    last: pd.Timestamp  # last period without a KPI
    periods: int  # periods in the run (days for daily input, weeks for weekly input)
    step_days: int  # 1 (daily input) or 7 (weekly input)
    history_periods: int  # periods in the series' history (first to last date)

    @property
    def days(self) -> int:
        return self.periods * self.step_days

    @property
    def share_pct(self) -> float:
        return 100.0 * self.periods / max(self.history_periods, 1)

    def describe(self, label: str | None = None) -> str:
        """E.g. ``31 weeks in GB, 2022-03-07 to 2022-10-03 (20% of the history)`` (``label`` names the series)."""
        length = f"{self.periods} weeks" if self.step_days == 7 else f"{self.days} days ({self.days / 7:.1f} weeks)"
        return (f"{length} in {label or self.series}, {self.first.date()} to {self.last.date()} "
                f"({self.share_pct:.0f}% of the history)")


def long_kpi_gaps(std: pd.DataFrame, frequency: str, max_gap_days: int) -> list[KpiGap]:
    """Runs of periods without a KPI longer than ``max_gap_days``, per series, longest first.

    A period counts as without KPI when no row of it holds a revenue value (missing cell, or the period is absent from
    a regular grid). "Longer" uses the same rule as the interpolation of short gaps: more than ``max_gap_days //
    step`` periods. Series whose dates are off a regular grid are skipped (validate's irregular_dates reports them).
    """
    step = step_days(frequency)
    max_run = max(max_gap_days // step, 0)
    gaps: list[KpiGap] = []
    for geo, rows in std.groupby(F.GEO, sort=False):
        times = pd.DatetimeIndex(rows[F.TIME])
        grid = pd.date_range(times.min(), times.max(), freq=pd.Timedelta(days=step))
        if not times.isin(grid).all():
            continue
        known = pd.DatetimeIndex(rows.loc[rows[F.REVENUE].notna(), F.TIME].unique())
        missing = ~grid.isin(known)
        for start, stop in nan_runs(missing):
            if stop - start > max_run:
                gaps.append(KpiGap(str(geo), grid[start], grid[stop - 1], int(stop - start), step, len(grid)))
    return sorted(gaps, key=lambda g: (-g.periods, g.series, g.first))


LONG_GAP_FIX = ("supply the missing KPI values, or set enhanced_cleaning.missing_data.kpi_long_gaps=exclude (keep those "
                "weeks out of the model's fit) or =interpolate (fill them in; the model then fits invented sales), or "
                "kpi_policy=drop")


def kpi_gap_summary(gaps: list[KpiGap], cfg: MMMConfig) -> str:
    """``revenue (column 'sales') is missing for 31 weeks in GB, ...`` naming the longest gaps (at most three).

    A national model's single series is named by the ``data.series`` filter that selected it.
    """
    chosen = ", ".join(f"{k}={v}" for k, v in cfg.data.series.items() if v is not None)
    label = {F.NATIONAL: f"series [{chosen}]"} if chosen else {}
    listed = "; ".join(g.describe(label.get(g.series)) for g in gaps[:3])
    listed += f"; and {len(gaps) - 3} more" if len(gaps) > 3 else ""
    kpi = f"revenue (column {cfg.data.revenue_col!r})"
    return f"{kpi} is missing for {listed}" if len(gaps) == 1 else f"{kpi} has {len(gaps)} long gaps: {listed}"
