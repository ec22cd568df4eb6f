"""The TRANSFORM core: duplicates -> missing data -> outliers at the input's grain, then weekly aggregation."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.errors import DataError
from mmm_meridian.tables.duplicates import additive_columns
from mmm_meridian.tables.weekly import detect_frequency, to_weekly, week_start
from mmm_meridian.transform.cleaning_log import CleaningLog, period_labels
from mmm_meridian.transform.duplicates import resolve_duplicates
from mmm_meridian.transform.missing import EXCLUDED, INSERTED, impute_missing
from mmm_meridian.transform.outliers import cap_outliers


def model_columns(weekly: pd.DataFrame, cfg: MMMConfig) -> list[str]:
    """Columns the model reads: they must hold no missing value after cleaning."""
    return [c for c in weekly.columns if c not in (F.TIME, F.GEO)]


def _totals(frame: pd.DataFrame, additive: list[str]) -> dict[str, float]:
    return {c: round(float(frame[c].sum()), 6) for c in additive}


def _drop_kpi_weeks(weekly: pd.DataFrame, dropped: pd.DataFrame, cfg: MMMConfig, frequency: str,
                    additive: list[str], log: CleaningLog) -> pd.DataFrame:
    if dropped.empty:
        return weekly
    weeks = dropped.assign(**{F.TIME: week_start(dropped[F.TIME], cfg, frequency)}).drop_duplicates()
    key = pd.MultiIndex.from_frame(weekly[[F.GEO, F.TIME]])
    gone = key.isin(pd.MultiIndex.from_frame(weeks[[F.GEO, F.TIME]]))
    for geo, rows in weekly[gone].groupby(F.GEO):
        log.record_rows("missing.kpi_week_dropped", str(geo), rows[F.TIME],
                        "KPI missing in the week (kpi_policy=drop): week removed; the weekly grid now has a gap",
                        {c: -float(rows[c].sum()) for c in additive})
        log.warn(f"{geo}: {len(rows)} week(s) dropped for a missing KPI: {', '.join(period_labels(rows[F.TIME]))}")
    return weekly[~gone].reset_index(drop=True)


def _excluded_weeks(std: pd.DataFrame, weekly: pd.DataFrame, cfg: MMMConfig, frequency: str,
                    log: CleaningLog) -> dict[str, list[str]]:
    """Weeks holding any period whose KPI is a placeholder (kpi_long_gaps=exclude), per geo, as ISO dates.

    A week with even one placeholder day is excluded whole: its total would mix observed and invented sales.
    """
    marked = std.loc[std[EXCLUDED], [F.GEO, F.TIME]]
    if marked.empty:
        return {}
    marked = marked.assign(**{F.TIME: week_start(marked[F.TIME], cfg, frequency)}).drop_duplicates()
    kept = pd.MultiIndex.from_frame(weekly[[F.GEO, F.TIME]])
    marked = marked[pd.MultiIndex.from_frame(marked).isin(kept)]  # partial edge weeks may have been dropped
    out: dict[str, list[str]] = {}
    for geo, rows in marked.sort_values([F.GEO, F.TIME]).groupby(F.GEO):
        out[str(geo)] = period_labels(rows[F.TIME])
        log.record_rows("missing.kpi_week_excluded", str(geo), rows[F.TIME],
                        "KPI missing for longer than max_gap_days (kpi_long_gaps=exclude): week kept with a placeholder "
                        "KPI and held out of the model's likelihood", {})
    return out


def transform(std: pd.DataFrame, cfg: MMMConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Clean the ingested rows and aggregate them to the canonical weekly table.

    Args:
        std: ``ingest/standardized.parquet`` (the user's rows after the series filter, with canonical columns).
        cfg: the typed config (``data.*`` maps the columns, ``enhanced_cleaning.*`` sets the rules).

    Returns:
        The clean weekly table and the cleaning log (changes, warnings, per-rule totals and an additive-totals ledger).

    Raises:
        DataError: a rule is set to fail on what it found, or a model column still has missing values.
    """
    rows_in = len(std)
    frequency = cfg.data.frequency.value
    frequency = detect_frequency(std) if frequency == "auto" else frequency
    log = CleaningLog()
    additive = additive_columns(std, cfg)
    ledger = {"input": _totals(std, additive)}
    std = resolve_duplicates(std, cfg, log)
    ledger["after_duplicates"] = _totals(std, additive)
    std, kpi_dropped = impute_missing(std, cfg, frequency, log)
    ledger["after_missing_data"] = _totals(std, additive)
    std = cap_outliers(std, cfg, frequency, log)
    ledger["after_outliers"] = _totals(std, additive)
    weekly, aggregation = to_weekly(std.drop(columns=[INSERTED, EXCLUDED]), cfg, frequency=frequency)
    ledger["after_weekly_aggregation"] = _totals(weekly, additive)
    weekly = _drop_kpi_weeks(weekly, kpi_dropped, cfg, frequency, additive, log)
    excluded = _excluded_weeks(std, weekly, cfg, frequency, log)
    placeholder = sum(c.total_change for c in log.changes if c.rule == "missing.kpi_excluded_placeholder")
    ledger["output"] = _totals(weekly, additive)
    if aggregation["dropped_partial_weeks"]:
        log.warn(f"partial weeks at the ends dropped by the weekly aggregation: {aggregation['dropped_partial_weeks']}")
    missing = weekly[model_columns(weekly, cfg)].isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        raise DataError(f"after cleaning, {len(missing)} column(s) still have missing weeks: "
                        f"{dict(missing.astype(int))}", where="transform/clean.parquet",
                        fix="map a column that holds data, or drop the empty channel/control from the data config")
    change = {c: round(ledger["output"][c] - ledger["input"][c], 6) for c in additive}
    report = {"input_frequency": frequency, "rows_in": int(rows_in), "weeks_out": int(weekly[F.TIME].nunique()),
              "geos": sorted(weekly[F.GEO].unique().tolist()), "additive_columns": additive,
              "totals": ledger, "total_change": change,
              "total_change_pct": {c: (round(100 * change[c] / ledger["input"][c], 4) if ledger["input"][c] else 0.0)
                                   for c in additive},
              "aggregation": aggregation,
              # Weeks whose KPI is a placeholder to keep out of Meridian's likelihood (features carries them on), and
              # how much of the revenue total those placeholders are.
              "kpi_excluded_weeks": excluded, "kpi_placeholder_total": round(float(placeholder), 6),
              **log.to_dict()}
    return weekly, report
