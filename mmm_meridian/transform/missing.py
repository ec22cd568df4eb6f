"""Missing data: absent periods are inserted, then every gap is filled by the configured strategy and logged.

``campaign_aware`` (default) reads a gap by what is missing with it, per channel and series:

- the whole row is absent (a missing period): every column is interpolated from the neighbouring periods;
- spend and delivery (impressions, clicks) are missing together: the campaign was paused -> 0 (in the Conjura data a
  missing spend means the channel was not used);
- one side is missing while the other shows the campaign ran: a platform/tracking outage -> the missing side is
  rebuilt from the known side and the ratio between them (CPM, CTR, ROAS) interpolated from the neighbours.

Gaps longer than ``max_gap_days`` are not interpolated: media falls back to 0 and outages to the series' median
ratio, and the log says so. ``simple`` interpolates every gap from the neighbours. A missing KPI is imputed, its weeks
dropped, or the run stopped, as ``kpi_policy`` says; never silently. Under ``kpi_policy=impute`` only short KPI gaps
are interpolated: a gap longer than ``max_gap_days`` (:func:`long_kpi_gaps`) stops the run unless ``kpi_long_gaps``
says ``exclude`` (the weeks get a placeholder KPI, interpolated so that Meridian's KPI scaling stays sensible, and are
marked in column ``_kpi_excluded`` so that the model keeps them out of its likelihood) or ``interpolate``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.quality import ImputationStrategy, KpiLongGapPolicy, KpiMissingPolicy
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.tables.gaps import LONG_GAP_FIX, KpiGap, kpi_gap_summary, long_kpi_gaps, nan_runs, step_days
from mmm_meridian.transform.cleaning_log import CleaningLog, period_labels

INSERTED = "_inserted"
EXCLUDED = "_kpi_excluded"  # rows whose KPI is a placeholder kept out of the model's likelihood (kpi_long_gaps=exclude)


def complete_grid(std: pd.DataFrame, frequency: str, log: CleaningLog) -> pd.DataFrame:
    """Insert the absent periods of each series (all values missing), marked in column ``_inserted``."""
    step = pd.Timedelta(days=step_days(frequency))
    parts = []
    for geo, rows in std.groupby(F.GEO, sort=False):
        grid = pd.date_range(rows[F.TIME].min(), rows[F.TIME].max(), freq=step)
        if not rows[F.TIME].isin(grid).all():
            log.warn(f"{geo}: dates are not on a regular {frequency} grid; absent periods were not inserted")
            parts.append(rows.assign(**{INSERTED: False}))
            continue
        absent = grid.difference(pd.DatetimeIndex(rows[F.TIME]))
        added = pd.DataFrame({F.TIME: absent, F.GEO: geo})
        if len(absent):
            log.record_rows("missing.period_inserted", str(geo), absent, "period absent from the data: row "
                            "inserted, its values imputed by the rules below", {})
        parts.append(pd.concat([rows.assign(**{INSERTED: False}), added.assign(**{INSERTED: True})]))
    out = pd.concat(parts).sort_values([F.GEO, F.TIME], kind="stable").reset_index(drop=True)
    out[INSERTED] = out[INSERTED].astype(bool)
    return out


def long_gap_error(gaps: list[KpiGap], cfg: MMMConfig) -> DataError:
    """Transform's one-line refusal of KPI gaps nobody chose a treatment for (validate's kpi_gaps check words the
    same finding from :func:`kpi_gap_summary` and :data:`LONG_GAP_FIX`)."""
    return DataError(f"{kpi_gap_summary(gaps, cfg)}: longer than enhanced_cleaning.missing_data.max_gap_days="
                     f"{cfg.enhanced_cleaning.missing_data.max_gap_days}, so filling it would invent those sales",
                     where=f"column {cfg.data.revenue_col!r}", fix=LONG_GAP_FIX)


def _interp(days: np.ndarray, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    known = ~np.isnan(values)
    if not known.any():
        return np.full(len(positions), np.nan)
    return np.interp(days[positions], days[known], values[known])  # edges take the nearest known value


class _SeriesImputer:
    """Fills one series' gaps column by column, recording each fill."""

    def __init__(self, rows: pd.DataFrame, geo: str, cfg: MMMConfig, frequency: str, log: CleaningLog) -> None:
        self.frame = rows.reset_index(drop=True)
        self.geo = geo
        self.days = ((self.frame[F.TIME] - self.frame[F.TIME].min()).dt.days).to_numpy(dtype=float)
        self.max_run = max(cfg.enhanced_cleaning.missing_data.max_gap_days // step_days(frequency), 0)
        self.log = log

    def fill(self, col: str, positions: np.ndarray, values: np.ndarray, rule: str, reason: str) -> None:
        if len(positions) == 0:
            return
        before = self.frame.loc[positions, col].to_numpy(dtype=float)
        if col.endswith(("_impressions", "_clicks")):
            values = np.round(values)
        self.frame.loc[positions, col] = values
        self.log.record(rule, col, self.geo, self.frame.loc[positions, F.TIME], before, values, reason)

    def runs(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in short runs (<= max_gap_days) and in long runs."""
        short, long_ = [], []
        for start, stop in nan_runs(mask):
            (short if stop - start <= self.max_run else long_).extend(range(start, stop))
        return np.array(short, dtype=int), np.array(long_, dtype=int)

    def interpolate(self, col: str, mask: np.ndarray, rule: str, reason: str, long_value: float | None = 0.0) -> None:
        """Level interpolation over short runs; long runs get ``long_value`` (None: interpolated too, warned)."""
        short, long_ = self.runs(mask)
        values = self.frame[col].to_numpy(dtype=float)
        self.fill(col, short, _interp(self.days, values, short), rule, reason)
        if len(long_):
            days = f"{len(long_)} period(s) in gaps longer than max_gap_days"
            if long_value is None:
                self.fill(col, long_, _interp(self.days, values, long_), rule + "_long_gap", reason + f"; {days}")
                self.log.warn(f"{self.geo} {col}: {days} interpolated")
            else:
                self.fill(col, long_, np.full(len(long_), long_value), "missing.long_gap_zero",
                          f"{days}: not interpolated, set to {long_value:g}")
                self.log.warn(f"{self.geo} {col}: {days} set to {long_value:g} (raise "
                              "enhanced_cleaning.missing_data.max_gap_days to interpolate them)")

    def exclude_long_kpi_gaps(self, mask: np.ndarray) -> None:
        """kpi_long_gaps=exclude: placeholder KPI on the long gaps (interpolated: it keeps Meridian's KPI scaling, which
        is computed over every period, close to the observed level), and the rows marked as out of the likelihood."""
        _, long_ = self.runs(mask)
        if not len(long_):
            return
        values = self.frame[F.REVENUE].to_numpy(dtype=float)
        self.fill(F.REVENUE, long_, _interp(self.days, values, long_), "missing.kpi_excluded_placeholder",
                  "KPI missing for longer than max_gap_days (kpi_long_gaps=exclude): placeholder interpolated from the "
                  "neighbouring periods; these periods are kept out of the model's likelihood")
        self.frame.loc[long_, EXCLUDED] = True
        for start, stop in nan_runs(np.isin(np.arange(len(mask)), long_)):
            first, last = self.frame.at[start, F.TIME], self.frame.at[stop - 1, F.TIME]
            self.log.warn(f"{self.geo} revenue: {stop - start} period(s) without KPI, {first.date()} to {last.date()}, "
                          "kept out of the model's fit (kpi_long_gaps=exclude); their revenue in clean.parquet is a "
                          "placeholder")

    def from_partner(self, col: str, partner: str, mask: np.ndarray) -> None:
        """Rebuild ``col`` on an outage from ``partner`` times the ratio between them, interpolated."""
        values = self.frame[col].to_numpy(dtype=float)
        base = self.frame[partner].to_numpy(dtype=float)
        usable = ~np.isnan(values) & (base > 0)
        ratio = np.where(usable, values / np.where(base > 0, base, 1.0), np.nan)
        short, long_ = self.runs(mask)
        reason = f"outage: {col} missing while {partner} shows the campaign ran; rebuilt as {partner} x the " \
                 f"{col}/{partner} ratio"
        if not usable.any():
            self.interpolate(col, mask, "missing.interpolate", "outage without a usable ratio: interpolated")
            return
        self.fill(col, short, base[short] * _interp(self.days, ratio, short), "missing.outage_interpolate",
                  reason + " interpolated from the neighbouring periods")
        median = float(np.nanmedian(ratio))
        self.fill(col, long_, base[long_] * median, "missing.outage_median_ratio",
                  reason + " at the series median (gap longer than max_gap_days)")

    def media(self, channel: str, cols: list[str], cfg: MMMConfig) -> None:
        md = cfg.enhanced_cleaning.missing_data
        inserted = self.frame[INSERTED].to_numpy()
        delivery = [c for c in cols if c.endswith(("_impressions", "_clicks", "_reach", "_frequency"))]
        core = [F.spend(channel), *delivery]
        for col in cols:  # absent periods
            mask = inserted & self.frame[col].isna().to_numpy()
            self.interpolate(col, mask, "missing.period_interpolate", "period absent from the data: interpolated")
        if md.strategy == ImputationStrategy.simple:
            for col in cols:
                self.interpolate(col, self.frame[col].isna().to_numpy(), "missing.simple_interpolate",
                                 "simple imputation: interpolated from the neighbouring periods")
            return
        paused = self.frame[core].isna().all(axis=1).to_numpy() & ~inserted
        for col in cols:
            mask = paused & self.frame[col].isna().to_numpy()
            if md.pause_detection:
                self.fill(col, np.flatnonzero(mask), np.zeros(int(mask.sum())), "missing.pause_zero",
                          f"paused: {channel} spend and delivery missing together: channel not running, set to 0")
            else:
                self.interpolate(col, mask, "missing.interpolate", "pause detection off: interpolated")
        for col in cols:
            mask = self.frame[col].isna().to_numpy()
            if not mask.any():
                continue
            partner = (delivery[0] if delivery else None) if col == F.spend(channel) else F.spend(channel)
            if not md.outage_detection or partner is None:
                self.fill(col, np.flatnonzero(mask), np.zeros(int(mask.sum())), "missing.zero_fill",
                          "missing value taken as 'not used' (outage detection off or nothing to rebuild from)")
                continue
            partner_known = ~self.frame[partner].isna().to_numpy()
            self.from_partner(col, partner, mask & partner_known)
            rest = self.frame[col].isna().to_numpy()
            self.interpolate(col, rest, "missing.interpolate", "outage with both sides missing: interpolated")


def impute_missing(std: pd.DataFrame, cfg: MMMConfig, frequency: str,
                   log: CleaningLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill the gaps of a standardized, de-duplicated table; returns it and the (geo, time) rows whose KPI is to be
    dropped (``kpi_policy=drop``)."""
    std = complete_grid(std, frequency, log)
    md = cfg.enhanced_cleaning.missing_data
    kpi_missing = std[std[F.REVENUE].isna()]
    if len(kpi_missing) and md.kpi_policy == KpiMissingPolicy.fail:
        pairs = list(zip(kpi_missing[F.GEO], period_labels(kpi_missing[F.TIME]), strict=True))
        periods = ", ".join(f"{g} {d}" for g, d in pairs[:8]) + (" ..." if len(pairs) > 8 else "")
        raise DataError(f"the KPI (revenue) is missing on {len(kpi_missing)} period(s): {periods}",
                        where=f"column {cfg.data.revenue_col!r}",
                        fix="supply the missing values, or set enhanced_cleaning.missing_data.kpi_policy=impute "
                            "(interpolate) or drop (drop those weeks)")
    dropped = kpi_missing[[F.GEO, F.TIME]].reset_index(drop=True) if md.kpi_policy == KpiMissingPolicy.drop \
        else kpi_missing.iloc[:0][[F.GEO, F.TIME]]
    long_policy = md.kpi_long_gaps if md.kpi_policy == KpiMissingPolicy.impute else None
    if long_policy == KpiLongGapPolicy.fail:
        gaps = long_kpi_gaps(std, frequency, md.max_gap_days)
        if gaps:  # validate's critical check kpi_gaps says the same; this guards a run with the gate overridden
            raise long_gap_error(gaps, cfg)
    std[EXCLUDED] = False
    parts = []
    for geo, rows in std.groupby(F.GEO, sort=False):
        imputer = _SeriesImputer(rows, str(geo), cfg, frequency, log)
        for channel in cfg.data.channel_map:
            cols = [c for c in (F.spend(channel), F.impressions(channel), F.clicks(channel),
                                F.platform_revenue(channel), F.reach(channel), F.frequency(channel))
                    if c in std.columns]
            imputer.media(channel, cols, cfg)
        for name in cfg.data.organic_map:  # organic volume: gaps interpolated like a control (no spend to pair with)
            imputer.interpolate(F.organic(name), imputer.frame[F.organic(name)].isna().to_numpy(),
                                "missing.organic_interpolate", "organic media missing: interpolated from the "
                                "neighbouring periods", long_value=None)
        revenue_missing = imputer.frame[F.REVENUE].isna().to_numpy()
        if long_policy == KpiLongGapPolicy.exclude:
            imputer.exclude_long_kpi_gaps(revenue_missing)
            revenue_missing = imputer.frame[F.REVENUE].isna().to_numpy()
        if long_policy is not None:
            imputer.interpolate(F.REVENUE, revenue_missing, "missing.kpi_interpolate",
                                "KPI missing: interpolated from the neighbouring periods (kpi_policy=impute)",
                                long_value=None)
        for control in [*cfg.data.controls, *cfg.data.non_media_treatments]:
            imputer.interpolate(control, imputer.frame[control].isna().to_numpy(), "missing.control_interpolate",
                                "control missing: interpolated from the neighbouring periods", long_value=None)
        if F.PROMO in std.columns:
            mask = imputer.frame[F.PROMO].isna().to_numpy()
            imputer.fill(F.PROMO, np.flatnonzero(mask), np.zeros(int(mask.sum())), "missing.promo_zero",
                         "promo flag missing: no promotion recorded, set to 0")
        if F.REVENUE_PER_KPI in std.columns:
            imputer.interpolate(F.REVENUE_PER_KPI, imputer.frame[F.REVENUE_PER_KPI].isna().to_numpy(),
                                "missing.revenue_per_kpi_interpolate", "revenue per conversion missing: interpolated "
                                "from the neighbouring periods", long_value=None)
        if F.POPULATION in std.columns:
            imputer.interpolate(F.POPULATION, imputer.frame[F.POPULATION].isna().to_numpy(),
                                "missing.population_fill", "population missing: taken from the neighbouring periods",
                                long_value=None)
        parts.append(imputer.frame)
    out = pd.concat(parts).reset_index(drop=True)
    return out, dropped
