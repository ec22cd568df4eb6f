"""Tidy tables for dashboards (``report/dashboard/<table>.csv`` and ``.parquet``) with a documented schema.

Each table has one row per observation and one column per variable; money is in the data's currency. The schema of
every table written is in ``SCHEMA.md`` (for people) and ``schema.json`` (for tools); columns an upstream stage adds
beyond the documented ones are passed through and listed as such.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_meridian.models.base import NON_MEDIA_TREATMENT, ORGANIC
from mmm_meridian.report.formatting import is_number

# table -> (description, {column: (type, unit, meaning)}); "{cur}" is replaced by the currency label.
SCHEMAS: dict[str, tuple[str, dict[str, tuple[str, str, str]]]] = {
    "weekly_contributions": ("Weekly revenue by component: base, seasonality and holidays, other controls, and each "
                             "media channel (posterior means; components add up to the model's expected revenue).", {
        "time": ("date", "week start", "first day of the week"),
        "component": ("string", "", "base, seasonality_and_holidays, other_controls, or the name of a media "
                                    "channel, organic medium or non-media treatment"),
        "component_type": ("string", "", "base, seasonality, controls, media, organic or non_media_treatment"),
        "revenue": ("float", "{cur}", "revenue attributed to the component in the week (controls swing around 0)"),
        "share_of_week": ("float", "fraction", "revenue / the model's expected revenue of the week")}),
    "attribution": ("Channel contribution analysis over the whole period.", {
        "channel": ("string", "", "media channel"),
        "spend": ("float", "{cur}", "media spend over the period"),
        "spend_share": ("float", "fraction", "channel spend / total media spend"),
        "incremental_revenue": ("float", "{cur}", "revenue caused by the channel (posterior mean)"),
        "contribution_share": ("float", "fraction", "channel incremental revenue / all media incremental revenue"),
        "share_of_revenue": ("float", "fraction", "channel incremental revenue / total actual revenue"),
        "efficiency_index": ("float", "ratio", "contribution_share / spend_share (above 1: pulls above its weight)"),
        "roi_mean": ("float", "{cur} per {cur}", "incremental revenue per unit of spend (posterior mean)")}),
    "roi": ("ROI and marginal ROI per channel with 90 % credible intervals.", {
        "channel": ("string", "", "media channel"),
        "spend": ("float", "{cur}", "media spend over the period"),
        "incremental_revenue": ("float", "{cur}", "revenue caused by the channel (posterior mean)"),
        "roi_mean": ("float", "{cur} per {cur}", "ROI, posterior mean"),
        "roi_median": ("float", "{cur} per {cur}", "ROI, posterior median"),
        "roi_lo_90": ("float", "{cur} per {cur}", "ROI, 5th percentile"),
        "roi_hi_90": ("float", "{cur} per {cur}", "ROI, 95th percentile"),
        "mroi_mean": ("float", "{cur} per {cur}", "marginal ROI (next unit of spend), posterior mean"),
        "mroi_lo_90": ("float", "{cur} per {cur}", "marginal ROI, 5th percentile"),
        "mroi_hi_90": ("float", "{cur} per {cur}", "marginal ROI, 95th percentile")}),
    "response_curves": ("Incremental revenue per channel at multiples of its historical spend.", {
        "channel": ("string", "", "media channel"),
        "spend_multiplier": ("float", "ratio", "spend / historical spend"),
        "spend": ("float", "{cur}", "media spend over the period"),
        "incremental_revenue_mean": ("float", "{cur}", "incremental revenue, posterior mean"),
        "incremental_revenue_lo": ("float", "{cur}", "incremental revenue, lower end of the 90 % interval"),
        "incremental_revenue_hi": ("float", "{cur}", "incremental revenue, upper end of the 90 % interval")}),
    "allocation": ("The optimize stage's allocation per channel (see optimize/allocation.csv).", {
        "channel": ("string", "", "media channel"),
        "current_spend": ("float", "{cur}", "historical spend over the period"),
        "recommended_spend": ("float", "{cur}", "optimised spend"),
        "change_pct": ("float", "percent", "recommended vs current spend"),
        "current_roi": ("float", "{cur} per {cur}", "ROI at the current spend"),
        "expected_roi": ("float", "{cur} per {cur}", "ROI at the recommended spend"),
        "expected_incremental_revenue": ("float", "{cur}", "incremental revenue at the recommended spend")}),
    "recommendations": ("Optimization recommendations: what to do with each channel's budget.", {
        "channel": ("string", "", "media channel"),
        "action": ("string", "", "increase, decrease or keep (within 5 %)"),
        "current_spend": ("float", "{cur}", "historical spend over the period"),
        "recommended_spend": ("float", "{cur}", "optimised spend"),
        "spend_change": ("float", "{cur}", "recommended minus current spend"),
        "change_pct": ("float", "percent", "recommended vs current spend"),
        "revenue_change": ("float", "{cur}", "expected change of the channel's incremental revenue"),
        "expected_roi": ("float", "{cur} per {cur}", "ROI at the recommended spend")}),
    "scenarios": ("Budget and constraint scenarios, each optimised (see optimize/scenarios.csv).", {
        "scenario": ("string", "", "scenario preset name"),
        "budget": ("float", "{cur}", "media budget of the scenario"),
        "expected_incremental_revenue": ("float", "{cur}", "media-driven revenue of the optimised mix"),
        "lift": ("float", "{cur}", "gain over the historical mix at the same budget"),
        "prob_beats_current_mix": ("float", "probability", "posterior probability that the optimised mix wins")}),
    "metrics": ("Model accuracy and calibration metrics per strategy / split, with thresholds and pass/fail.", {
        "scope": ("string", "", "strategy / split path in evaluate/metrics.json"),
        "metric": ("string", "", "mape, wmape, r2, coverage ..."),
        "value": ("float", "fraction", "the metric's value (MAPE 0.08 = 8 %)"),
        "threshold": ("float", "fraction", "the configured threshold, when there is one"),
        "passed": ("bool", "", "whether the metric met its threshold (empty: no threshold)")}),
    "model_fit": ("Actual vs model-expected weekly revenue.", {
        "time": ("date", "week start", "first day of the week"),
        "actual": ("float", "{cur}", "actual revenue"),
        "expected": ("float", "{cur}", "model-expected revenue, posterior mean"),
        "expected_lo_90": ("float", "{cur}", "lower end of the 90 % interval"),
        "expected_hi_90": ("float", "{cur}", "upper end of the 90 % interval"),
        "baseline": ("float", "{cur}", "expected revenue without media"),
        "kpi_excluded": ("bool", "", "the week's revenue is a placeholder for a long gap (kpi_long_gaps=exclude), "
                                     "kept out of the fit; actual is empty")}),
    "second_opinion": ("Each channel's ROI from both engines (model.second_opinion): <engine>_roi_mean, "
                       "<engine>_roi_lo_90 and <engine>_roi_hi_90 for meridian and pymc.", {
        "channel": ("string", "", "media channel"),
        "intervals_overlap": ("bool", "", "the two engines' 90 % ROI intervals overlap (False: they disagree)"),
        "roi_ratio": ("float", "ratio", "second engine's ROI mean / the main engine's")}),
    "organic_and_treatments": ("Revenue caused by each non-media treatment (price, promotions ...: "
                               "data.non_media_treatments) and organic medium (data.organic_map) over the period "
                               "(posterior means).", {
        "component": ("string", "", "the treatment's or organic medium's name"),
        "component_type": ("string", "", "non_media_treatment or organic"),
        "revenue": ("float", "{cur}", "incremental revenue over the period (negative: it lowered revenue)"),
        "share_of_modelled_revenue": ("float", "fraction", "revenue / the model's expected revenue over the period"),
        "weekly_swing": ("float", "{cur}", "standard deviation of its weekly revenue")}),
    "calibration": ("Model vs experiments: each lift test's measured ROI beside the model's ROI over the test's "
                    "weeks and geo (evaluate/calibration.csv).", {
        "row": ("int", "", "the experiment's row in calibration.experiments"),
        "channel": ("string", "", "media channel tested"),
        "geo": ("string", "", "the test's geo (empty: national test)"),
        "start": ("date", "week start", "first week of the test"),
        "end": ("date", "week start", "last week of the test"),
        "measured_roi": ("float", "{cur} per {cur}", "ROI the test measured"),
        "measured_roi_lo_90": ("float", "{cur} per {cur}", "measured ROI - 1.645 standard errors"),
        "measured_roi_hi_90": ("float", "{cur} per {cur}", "measured ROI + 1.645 standard errors"),
        "model_roi_mean": ("float", "{cur} per {cur}", "the model's ROI over the test's weeks and geo, posterior mean"),
        "model_roi_lo_90": ("float", "{cur} per {cur}", "the model's ROI, 5th percentile"),
        "model_roi_hi_90": ("float", "{cur} per {cur}", "the model's ROI, 95th percentile"),
        "inside": ("bool", "", "the model's ROI lies inside the measured 90 % interval (the model agrees)"),
        "difference": ("float", "{cur} per {cur}", "model ROI minus measured ROI")}),
    "optimal_frequency": ("Reach-and-frequency channels: the average weekly frequency that maximises ROI and the "
                          "one the channel ran at.", {
        "channel": ("string", "", "reach-and-frequency channel"),
        "optimal_frequency": ("float", "exposures per person per week", "frequency with the highest ROI"),
        "historical_frequency": ("float", "exposures per person per week", "average frequency in the data"),
        "roi_at_optimal": ("float", "{cur} per {cur}", "ROI at the optimal frequency, same spend"),
        "roi_at_historical": ("float", "{cur} per {cur}", "ROI at the historical frequency")}),
}

#: Decomposition component types with their own incremental revenue besides paid media.
CAUSE_TYPES = (NON_MEDIA_TREATMENT, ORGANIC)


def cause_table(decomposition: pd.DataFrame) -> pd.DataFrame:
    """Per non-media treatment and organic medium: its revenue over the period, its share of the model's expected
    revenue and its typical weekly swing (empty when the model has none)."""
    columns = ["component", "component_type", "revenue", "share_of_modelled_revenue", "weekly_swing"]
    causes = decomposition[decomposition["component_type"].isin(CAUSE_TYPES)]
    if causes.empty:
        return pd.DataFrame(columns=columns)
    expected = float(decomposition["revenue"].sum())
    grouped = causes.groupby(["component", "component_type"], sort=False)["revenue"]
    table = grouped.sum().rename("revenue").to_frame().join(grouped.std().rename("weekly_swing")).reset_index()
    table["share_of_modelled_revenue"] = table["revenue"] / expected if expected else np.nan
    return table[columns]


def attribution_table(roi: pd.DataFrame, total_revenue: float | None) -> pd.DataFrame:
    """Channel contribution analysis from ``train/roi.csv``."""
    a = roi[["channel", "spend", "incremental_revenue", "roi_mean"]].copy()
    a["spend_share"] = a["spend"] / a["spend"].sum()
    a["contribution_share"] = a["incremental_revenue"] / a["incremental_revenue"].sum()
    a["share_of_revenue"] = a["incremental_revenue"] / total_revenue if total_revenue else np.nan
    a["efficiency_index"] = a["contribution_share"] / a["spend_share"].replace(0, np.nan)
    return a[["channel", "spend", "spend_share", "incremental_revenue", "contribution_share", "share_of_revenue",
              "efficiency_index", "roi_mean"]].sort_values("incremental_revenue", ascending=False)


def roi_table(roi: pd.DataFrame, mroi: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["channel", "spend", "incremental_revenue", "roi_mean", "roi_median", "roi_lo_90", "roi_hi_90"]
    table = roi[[c for c in cols if c in roi.columns]].copy()
    if mroi is not None:
        table = table.merge(mroi[["channel", "mroi_mean", "mroi_lo_90", "mroi_hi_90"]], on="channel", how="left")
    return table


def recommendations_table(allocation: pd.DataFrame) -> pd.DataFrame:
    """Per channel: increase / decrease / keep, by how much, and the expected change of its revenue."""
    a = allocation.copy()
    change = a["recommended_spend"] - a["current_spend"]
    pct = a["change_pct"] if "change_pct" in a else change / a["current_spend"].replace(0, np.nan) * 100
    action = np.where(pct > 5, "increase", np.where(pct < -5, "decrease", "keep"))
    revenue_change = np.nan
    if {"expected_incremental_revenue", "current_incremental_revenue"} <= set(a.columns):
        revenue_change = a["expected_incremental_revenue"] - a["current_incremental_revenue"]
    return pd.DataFrame({"channel": a["channel"], "action": action, "current_spend": a["current_spend"],
                         "recommended_spend": a["recommended_spend"], "spend_change": change, "change_pct": pct,
                         "revenue_change": revenue_change,
                         "expected_roi": a.get("expected_roi", pd.Series(np.nan, index=a.index))})


def weekly_table(decomposition: pd.DataFrame) -> pd.DataFrame:
    d = decomposition.copy()
    totals = d.groupby("time")["revenue"].transform("sum")
    d["share_of_week"] = d["revenue"] / totals.replace(0, np.nan)
    return d


def _schema_entry(name: str, frame: pd.DataFrame, currency: str) -> dict[str, Any]:
    description, documented = SCHEMAS[name]
    columns = []
    for col in frame.columns:
        dtype, unit, meaning = documented.get(col, (str(frame[col].dtype), "", "passed through from the upstream "
                                                                                "stage's file"))
        columns.append({"name": col, "type": dtype, "unit": unit.replace("{cur}", currency), "description": meaning})
    return {"table": name, "description": description, "rows": int(len(frame)), "columns": columns,
            "files": [f"{name}.csv", f"{name}.parquet"]}


def _markdown(entries: list[dict[str, Any]], currency: str) -> str:
    lines = ["# Dashboard tables", "", f"Tidy tables (one row per observation). Money is in {currency}. Each table "
             "is written as CSV and Parquet with the same columns.", ""]
    for e in entries:
        lines += [f"## {e['table']}", "", e["description"], "", f"Files: {', '.join(e['files'])}; {e['rows']} rows.",
                  "", "| column | type | unit | description |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['type']} | {c['unit']} | {c['description']} |" for c in e["columns"]]
        lines.append("")
    return "\n".join(lines)


def write_tables(tables: dict[str, pd.DataFrame | None], folder: Path, currency: str) -> dict[str, Any]:
    """Write every non-empty table as CSV and Parquet plus ``SCHEMA.md`` / ``schema.json``; returns the schema."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, frame in tables.items():
        if frame is None or frame.empty:
            continue
        frame = frame.reset_index(drop=True)
        for col in frame.columns:  # Parquet needs one type per column; flags like 'passed' can mix bool / None
            if frame[col].dtype == object and not all(isinstance(v, str) or v is None for v in frame[col]):
                if all(isinstance(v, (bool, type(None))) or is_number(v) for v in frame[col]):
                    continue
                frame[col] = frame[col].map(lambda v: None if v is None else str(v))
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        entries.append(_schema_entry(name, frame, currency))
    schema = {"currency": currency, "tables": entries}
    (folder / "schema.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
    (folder / "SCHEMA.md").write_text(_markdown(entries, currency), encoding="utf-8")
    return schema
