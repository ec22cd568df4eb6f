"""Value-sanity checks (``validation.value_sanity``) on the rows as delivered and on the weekly table.

Nothing is changed here: outliers, gaps and duplicates are flagged for the user and repaired by transform.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmm_meridian import frame as F
from mmm_meridian.config.quality import KpiLongGapPolicy, KpiMissingPolicy
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.tables.columns import column_roles
from mmm_meridian.tables.duplicates import additive_columns, classify_duplicates, non_additive_rules
from mmm_meridian.tables.gaps import LONG_GAP_FIX, kpi_gap_summary, long_kpi_gaps
from mmm_meridian.tables.promo import promo_mask
from mmm_meridian.validate.checks import Check, Status

GROUP = "value_sanity"
MIN_SPIKE_RATIO = 1.5  # a spike must also be this many times its local level: smooth series have a tiny spread


def _value_columns(std: pd.DataFrame) -> list[str]:
    return [c for c in std.columns if c not in (F.TIME, F.GEO)]


def basic(std: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    """Mapped columns hold data; no infinite or negative values."""
    roles = {r.target: r.column for r in column_roles(cfg)}
    empty = [f"{roles.get(c, c)}" for c in _value_columns(std) if std[c].isna().all()]
    values = std[_value_columns(std)]
    inf = {roles.get(c, c): int(n) for c, n in np.isinf(values).sum().items() if n}
    must_be_positive = additive_columns(std, cfg) + ([F.POPULATION] if F.POPULATION in std else [])
    negative = {roles.get(c, c): int(n) for c, n in (std[must_be_positive] < 0).sum().items() if n}
    return [
        Check("required_columns", GROUP, Status.fail if empty else Status.passed, len(empty), 0,
              "every mapped column holds data" if not empty else
              f"mapped column(s) {empty} are empty: map a column that holds data", {"empty_columns": empty}),
        Check("non_finite_values", GROUP, Status.fail if inf else Status.passed, sum(inf.values()), 0,
              "no infinite values" if not inf else f"infinite values in {inf}: fix the export (division by zero?)",
              {"columns": inf}),
        Check("negative_values", GROUP, Status.fail if negative else Status.passed, sum(negative.values()), 0,
              "no negative revenue, spend or delivery" if not negative else
              f"negative values in {negative}: refunds or credits must be netted out before modelling",
              {"columns": negative}),
    ]


def missing_values(std: pd.DataFrame, cfg: MMMConfig) -> Check:
    """Missing values, read as pauses (spend and delivery missing together) or outages (one side missing)."""
    counts = {c: int(n) for c, n in std[_value_columns(std)].isna().sum().items() if n}
    paused: dict[str, int] = {}
    outages: dict[str, int] = {}
    for ch in cfg.data.channel_map:
        core = [c for c in (F.spend(ch), F.impressions(ch), F.clicks(ch)) if c in std]
        nan = std[core].isna()
        both = nan.all(axis=1)
        if both.sum():
            paused[ch] = int(both.sum())
        partial = nan.any(axis=1) & ~both
        if partial.sum():
            outages[ch] = int(partial.sum())
    kpi = int(std[F.REVENUE].isna().sum())
    parts = []
    if paused:
        parts.append(f"spend and delivery missing together (looks paused: filled with 0) for {paused}")
    if outages:
        parts.append(f"spend or delivery missing while the other continues (looks like a tracking outage: "
                     f"rebuilt from the other side) for {outages}")
    if kpi:
        parts.append(f"the KPI is missing on {kpi} row(s) (handled by enhanced_cleaning.missing_data.kpi_policy)")
    other = {c: n for c, n in counts.items() if not any(c.startswith(ch + "_") for ch in cfg.data.channel_map)
             and c != F.REVENUE}
    if other:
        parts.append(f"other missing values: {other}")
    n = sum(counts.values())
    return Check("missing_values", GROUP, Status.warn if n else Status.passed, n, 0,
                 "no missing values" if not n else "; ".join(parts),
                 {"missing_by_column": counts, "paused_rows": paused, "outage_rows": outages, "kpi_missing_rows": kpi})


def kpi_gaps(std: pd.DataFrame, cfg: MMMConfig, frequency: str) -> Check:
    """Gaps in the KPI longer than ``enhanced_cleaning.missing_data.max_gap_days`` (missing cells or absent periods).

    Interpolating weeks or months of sales invents the very thing the model explains, so such a gap fails (critical
    by default) unless the user chose a treatment: ``kpi_long_gaps=exclude`` (out of the fit) or ``interpolate``, or
    ``kpi_policy=drop``. Then it is a warning naming what will happen.
    """
    md = cfg.enhanced_cleaning.missing_data
    gaps = long_kpi_gaps(std, frequency, md.max_gap_days)
    threshold = f"max_gap_days={md.max_gap_days}"
    if not gaps:
        return Check("kpi_gaps", GROUP, Status.passed, 0, threshold,
                     f"no gap in the KPI longer than {md.max_gap_days} days")
    details = {"gaps": [{"series": g.series, "first": str(g.first.date()), "last": str(g.last.date()),
                         "periods": g.periods, "days": g.days, "share_pct": round(g.share_pct, 2)} for g in gaps],
               "kpi_policy": md.kpi_policy.value, "kpi_long_gaps": md.kpi_long_gaps.value}
    summary = kpi_gap_summary(gaps, cfg)
    if md.kpi_policy == KpiMissingPolicy.drop:
        treatment = "those weeks will be dropped (kpi_policy=drop)"
    elif md.kpi_policy == KpiMissingPolicy.impute and md.kpi_long_gaps == KpiLongGapPolicy.exclude:
        treatment = "those weeks will be kept out of the model's fit (kpi_long_gaps=exclude)"
    elif md.kpi_policy == KpiMissingPolicy.impute and md.kpi_long_gaps == KpiLongGapPolicy.interpolate:
        treatment = "those weeks will be interpolated as you chose (kpi_long_gaps=interpolate): the model fits invented sales"
    elif md.kpi_policy == KpiMissingPolicy.fail:
        return Check("kpi_gaps", GROUP, Status.fail, gaps[0].days, threshold,
                     f"{summary}: kpi_policy=fail stops transform on it; supply the values, or set enhanced_cleaning."
                     "missing_data.kpi_policy=impute with kpi_long_gaps=exclude (out of the fit)",
                     {**details, "fix": LONG_GAP_FIX})
    else:
        return Check("kpi_gaps", GROUP, Status.fail, gaps[0].days, threshold,
                     f"{summary}: longer than enhanced_cleaning.missing_data.max_gap_days={md.max_gap_days}, so "
                     "filling it would invent those sales; supply them or set enhanced_cleaning.missing_data."
                     "kpi_long_gaps=exclude (out of the fit)", {**details, "fix": LONG_GAP_FIX})
    return Check("kpi_gaps", GROUP, Status.warn, gaps[0].days, threshold, f"{summary}: {treatment}", details)


def duplicates(std: pd.DataFrame, cfg: MMMConfig) -> Check:
    additive = additive_columns(std, cfg)
    non_additive_rules(std, cfg, additive)  # a rule for a column the data lacks stops here, as in transform
    groups = classify_duplicates(std, additive)
    kinds = {k: int(n) for k, n in groups["kind"].value_counts().items()}
    examples = {k: [f"{r[F.GEO]} {pd.Timestamp(r[F.TIME]).date()}" for _, r in g.head(5).iterrows()]
                for k, g in groups.groupby("kind")}
    policy = cfg.enhanced_cleaning.duplicates.conflicting.value
    words = {"exact": "identical copies (dropped)", "split": "split rows that add up (summed)",
             "conflicting": f"conflicting versions of one record (resolved by policy {policy})"}
    return Check("duplicate_rows", GROUP, Status.warn if kinds else Status.passed, int(len(groups)), 0,
                 "one row per series and date" if not kinds else
                 f"{len(groups)} (series, date) keys have several rows: " +
                 "; ".join(f"{n} {words[k]}, e.g. {examples[k][:2]}" for k, n in kinds.items()),
                 {"by_kind": kinds, "examples": examples})


def cost_per_unit(weekly: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    """CPM / CPC per channel against the configured ranges, and weeks that stray from the channel's median."""
    vs = cfg.validation.value_sanity
    out_of_range: dict[str, float] = {}
    unstable: dict[str, float] = {}
    medians: dict[str, float] = {}
    for ch in cfg.data.channel_map:
        for col, scale, bounds, label in ((F.impressions(ch), 1000.0, vs.cpm_range, "CPM"),
                                          (F.clicks(ch), 1.0, vs.cpc_range, "CPC")):
            if col not in weekly:
                continue
            live = weekly[(weekly[col] > 0) & (weekly[F.spend(ch)] > 0)]
            if live.empty:
                continue
            cost = live[F.spend(ch)] * scale / live[col]
            median = float(cost.median())
            medians[f"{ch} {label}"] = round(median, 4)
            if not bounds[0] <= median <= bounds[1]:
                out_of_range[f"{ch} {label}"] = round(median, 4)
            stray = float((abs(cost / median - 1) * 100 > vs.metric_tolerance_pct).mean() * 100)
            if stray > 5:
                unstable[f"{ch} {label}"] = round(stray, 2)
    if not medians:
        return []
    return [
        Check("cost_per_unit_range", GROUP, Status.warn if out_of_range else Status.passed, len(out_of_range),
              {"cpm_range": list(vs.cpm_range), "cpc_range": list(vs.cpc_range)},
              "every channel's median CPM / CPC is plausible" if not out_of_range else
              f"median cost outside the configured range for {out_of_range}: check the spend or delivery column "
              "mapping (currency, cents, thousands)", {"medians": medians}),
        Check("cost_per_unit_stability", GROUP, Status.warn if unstable else Status.passed,
              max(unstable.values()) if unstable else 0.0, vs.metric_tolerance_pct,
              "weekly CPM / CPC stay close to each channel's median" if not unstable else
              f"share of weeks whose cost strays more than {vs.metric_tolerance_pct:g}% from the channel median: "
              f"{unstable} (%): look for tracking gaps or mis-booked spend", {"stray_weeks_pct": unstable}),
    ]


def platform_roas(weekly: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    lo, hi = cfg.validation.value_sanity.roi_range
    roas = {ch: round(float(weekly[F.platform_revenue(ch)].sum() / weekly[F.spend(ch)].sum()), 4)
            for ch in cfg.data.platform_reported_map if weekly[F.spend(ch)].sum() > 0}
    if not roas:
        return []
    outside = {ch: r for ch, r in roas.items() if not lo <= r <= hi}
    return [Check("platform_roas", GROUP, Status.warn if outside else Status.passed, max(roas.values()), [lo, hi],
                  "platform-reported ROAS within the expected range" if not outside else
                  f"platform-reported ROAS outside {lo:g}-{hi:g} for {outside}: check the mapping, or adjust "
                  "validation.value_sanity.roi_range to your expectations", {"platform_roas": roas})]


def _spikes(frame: pd.DataFrame, columns: list[str], cfg: MMMConfig, frequency: str) -> list[dict]:
    z_limit = cfg.validation.value_sanity.outlier_zscore
    window = 15 if frequency == "daily" else 5
    in_promo = pd.Series(promo_mask(frame, cfg, frequency), index=frame.index)
    found: list[dict] = []
    for _, rows in frame.groupby(F.GEO, sort=False):
        rows = rows.sort_values(F.TIME)
        for col in columns:
            values = rows[col].astype(float)
            local = values.rolling(window, center=True, min_periods=3).median()
            ratio = np.log((values + 1.0) / (local + 1.0))
            live = (values > 0) & (local > 0)
            if not live.any():
                continue
            spread = 1.4826 * float(np.nanmedian(np.abs(ratio[live] - np.nanmedian(ratio[live]))))
            if not spread:
                continue
            z = ratio / spread
            for label in rows.index[(z > z_limit) & live & (ratio > np.log(MIN_SPIKE_RATIO))]:
                found.append({"series": str(rows.at[label, F.GEO]), "column": col,
                              "date": str(rows.at[label, F.TIME].date()), "value": float(rows.at[label, col]),
                              "typical": round(float(local[label]), 2), "zscore": round(float(z[label]), 2),
                              "in_promo": bool(in_promo[label])})
    return found


def outliers(std: pd.DataFrame, weekly: pd.DataFrame, cfg: MMMConfig, frequency: str) -> Check:
    """Spikes against a rolling median (robust z-score of the log ratio), flagged inside and outside promotions.

    The KPI is checked at the input's grain (a one-day spike hides in a weekly total), spend per week (budgets are
    planned by week, so day-to-day flighting is not a spike).
    """
    found = _spikes(std, [F.REVENUE], cfg, frequency)
    found += _spikes(weekly, [F.spend(ch) for ch in cfg.data.channel_map], cfg, "weekly")
    outside = [f for f in found if not f["in_promo"]]
    inside = [f for f in found if f["in_promo"]]
    first = outside[0] if outside else None
    message = "no spikes" if not found else (
        f"{len(outside)} spike(s) outside promotions"
        + (f", e.g. {first['column']} on {first['date']} at {first['value'] / max(first['typical'], 1e-9):.1f}x its "
           "usual level" if first else "")
        + f"; {len(inside)} inside promotion periods (kept when exempt_promo_periods is on). Transform caps "
          f"{list(cfg.enhanced_cleaning.outliers.targets)} per enhanced_cleaning.outliers")
    return Check("outliers", GROUP, Status.warn if outside else Status.passed, len(outside),
                 cfg.validation.value_sanity.outlier_zscore, message,
                 {"outside_promo": outside[:100], "inside_promo": inside[:100]})


def spend_delivery(std: pd.DataFrame, cfg: MMMConfig) -> list[Check]:
    mismatch: dict[str, dict[str, int]] = {}
    for ch in cfg.data.impressions_map:
        spend, impressions = std[F.spend(ch)], std[F.impressions(ch)]
        no_delivery = int(((spend > 0) & (impressions == 0)).sum())
        free = int(((impressions > 0) & (spend == 0)).sum())
        if no_delivery or free:
            mismatch[ch] = {"spend_without_impressions": no_delivery, "impressions_without_spend": free}
    if not cfg.data.impressions_map:
        return []
    n = sum(sum(v.values()) for v in mismatch.values())
    return [Check("spend_delivery_mismatch", GROUP, Status.warn if n else Status.passed, n, 0,
                  "spend and impressions agree on when a channel ran" if not n else
                  f"{n} row(s) with spend but no impressions or impressions but no spend: {mismatch}; check "
                  "tracking and whether spend is booked on another date", {"channels": mismatch})]
