"""Synthetic upstream artifacts for the report tests: six channels, 104 weeks, realistic magnitudes.

They follow the upstream stages' file contracts (column names and JSON keys as the real stages write them), so the
report can be tested without fitting Meridian. ``fake_model_outputs`` stands in for the posterior summaries that
:mod:`mmm_meridian.models.meridian.outputs` computes from a real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_meridian.models.base import ModelOutputs

CHANNELS = ["google_search", "google_display", "google_video", "meta_facebook", "meta_instagram", "tiktok"]
ROI = {"google_search": (3.33, 2.23, 4.91), "google_display": (1.42, 0.28, 3.41), "google_video": (1.40, 0.34, 2.81),
       "meta_facebook": (2.43, 1.30, 3.86), "meta_instagram": (1.10, 0.28, 2.72), "tiktok": (1.32, 0.29, 3.06)}
SPEND = {"google_search": 2_332_122.23, "google_display": 907_596.75, "google_video": 1_328_371.03,
         "meta_facebook": 1_469_489.07, "meta_instagram": 1_103_131.72, "tiktok": 731_498.23}
WEEKS = pd.date_range("2023-01-02", periods=104, freq="W-MON")


def roi_table() -> pd.DataFrame:
    rows = [{"channel": c, "spend": SPEND[c], "incremental_revenue": SPEND[c] * ROI[c][0], "roi_mean": ROI[c][0],
             "roi_median": ROI[c][0] * 0.95, "roi_lo_90": ROI[c][1], "roi_hi_90": ROI[c][2]} for c in CHANNELS]
    return pd.DataFrame(rows)


def allocation_table() -> pd.DataFrame:
    current = np.array([SPEND[c] for c in CHANNELS])
    shift = np.array([0.25, -0.3, -0.1, 0.15, -0.25, -0.05])
    recommended = current * (1 + shift)
    recommended *= current.sum() / recommended.sum()  # fixed budget
    roi = np.array([ROI[c][0] for c in CHANNELS])
    expected_roi = roi * (1 - 0.3 * (recommended / current - 1))
    revenue = recommended * expected_roi
    return pd.DataFrame({
        "channel": CHANNELS, "current_spend": current, "recommended_spend": recommended,
        "change_pct": (recommended / current - 1) * 100, "current_share": current / current.sum(),
        "recommended_share": recommended / recommended.sum(), "min_spend": current.sum() * 0.05,
        "max_spend": current.sum() * 0.4, "current_roi": roi, "expected_roi": expected_roi,
        "expected_roi_lo": expected_roi * 0.6, "expected_roi_hi": expected_roi * 1.5,
        "current_incremental_revenue": current * roi, "expected_incremental_revenue": revenue,
        "expected_incremental_revenue_lo": revenue * 0.7, "expected_incremental_revenue_hi": revenue * 1.3,
        "scale": recommended / current, "extrapolation": ["", "", "", "", "", ""]})


def scenarios_table() -> pd.DataFrame:
    base = sum(SPEND.values())
    rows = []
    for name, change in (("budget_minus_20", -20), ("budget_minus_10", -10), ("current_budget", 0),
                         ("budget_plus_10", 10), ("budget_plus_20", 20)):
        revenue = 18_000_000 * (1 + change / 100) ** 0.6
        rows.append({"scenario": name, "budget_change_pct": change, "budget": base * (1 + change / 100),
                     "status": "ok", "expected_incremental_revenue": revenue,
                     "expected_incremental_revenue_lo": revenue * 0.75, "expected_incremental_revenue_hi": revenue * 1.25,
                     "current_mix_incremental_revenue": revenue * 0.93, "lift": revenue * 0.07,
                     "lift_lo": revenue * 0.01, "lift_hi": revenue * 0.12, "lift_pct": 7.5,
                     "prob_beats_current_mix": 0.91, "constraints_satisfied": True})
    rows.append({"scenario": "conservative", "budget_change_pct": 0, "budget": base,
                 "status": "infeasible: minimum shares sum to 120 % of the budget"})
    return pd.DataFrame(rows)


def optimize_summary(allocation: pd.DataFrame) -> dict:
    cur = float(allocation["current_incremental_revenue"].sum())
    rec = float(allocation["expected_incremental_revenue"].sum())
    return {"objective": "roas", "budget": {"historical_total": float(allocation["current_spend"].sum()),
                                            "recommended_total": float(allocation["recommended_spend"].sum())},
            "expected_lift": {"mean": rec - cur, "lo": (rec - cur) * 0.2, "hi": (rec - cur) * 1.8,
                              "pct": (rec / cur - 1) * 100, "interval": 0.9},
            "prob_beats_current": 0.93, "constraints": {"satisfied": True}, "extrapolated_channels": [],
            "business_notes": ["Creative fatigue: refresh TikTok creatives before raising its spend."]}


def metrics_document() -> dict:
    return {
        "temporal_holdout": {"weeks": 13, "mape": 0.071, "wmape": 0.066, "r2": 0.83, "coverage": 0.846,
                             "thresholds": {"mape": 0.15, "coverage": 0.8},
                             "passed": {"mape": True, "coverage": True}},
        "rolling_origin": {"splits": [{"split": "0", "mape": {"value": 0.09, "threshold": 0.15, "passed": True}},
                                      {"split": "1", "mape": {"value": 0.18, "threshold": 0.15, "passed": False}}]},
        "digital_checks": {"channels": [{"channel": c, "model_incremental_revenue": SPEND[c] * ROI[c][0],
                                         "platform_reported_revenue": SPEND[c] * ROI[c][0] * 1.6,
                                         "ratio": 1 / 1.6, "within_bounds": True} for c in CHANNELS]},
        "business_checks": [{"check": "roi_within_bounds", "passed": True, "message": "every ROI in its bounds"},
                            {"check": "negative_baseline_probability", "value": 0.01, "passed": True}],
    }


def validation_report() -> dict:
    checks = [{"name": "min_weeks", "status": "pass", "severity": "critical", "value": 104, "threshold": 52,
               "message": "104 weeks of data"},
              {"name": "channel_correlation", "status": "warn", "severity": "high", "value": 0.74, "threshold": 0.7,
               "message": "Google Display and Google Video move together (correlation 0.74): the model may struggle "
                          "to tell their effects apart, and their ROI intervals are wider for it."},
              {"name": "outliers", "status": "fail", "severity": "medium", "value": 3, "threshold": 0,
               "message": "3 weeks of revenue far outside the usual range"}]
    return {"score": 0.86, "min_validation_score": 0.7, "passed": True, "gate_overridden": False, "checks": checks}


def cleaning_log() -> dict:
    return {"changes": [{"rule": "missing.pause_zero", "column": "tiktok_spend", "series": "national",
                         "periods": ["2023-03-01"], "rows": 4, "before": [None] * 4, "after": [0.0] * 4,
                         "total_change": 0.0, "reason": "paused"},
                        {"rule": "outliers.winsorize", "column": "revenue", "series": "national",
                         "periods": ["2023-11-24"], "rows": 1, "before": [90000.0], "after": [70000.0],
                         "total_change": -20000.0, "reason": "extreme"}], "warnings": []}


def clean_table() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"time": WEEKS, "geo": "national",
                          "revenue": 380_000 + 40_000 * np.sin(np.arange(104) / 8.3) + rng.normal(0, 8_000, 104)})
    for c in CHANNELS:
        frame[f"{c}_spend"] = SPEND[c] / 104 * rng.uniform(0.6, 1.4, 104)
    return frame


def feature_spec() -> dict:
    return {"geos": ["national"], "time_start": str(WEEKS[0].date()), "time_end": str(WEEKS[-1].date()),
            "n_weeks": 104, "holdout_weeks": 13,
            "controls": [{"name": "avg_price", "kind": "data_control"}, {"name": "annual_sin_1", "kind": "annual_fourier"},
                         {"name": "holiday_days", "kind": "holiday"}]}


def diagnostics() -> dict:
    return {"max_rhat": 1.012, "min_ess": 512.0, "divergences": 0, "converged": True, "failures": [],
            "thresholds": {"max_rhat": 1.1, "min_ess": 400.0, "max_divergences_pct": 1.0},
            "sampler": {"n_chains": 2, "n_keep": 200}, "backend": "jax"}


def write_artifacts(root: Path, *, model_file: bool = False, stages: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Write the upstream artifacts under ``root/<stage>/``; returns stage -> folder (as ``ctx.inputs``)."""
    allocation = allocation_table()
    files = {
        "ingest": {"raw.parquet": pd.DataFrame({"currency_code": ["GBP"] * 3, "revenue": [1.0, 2.0, 3.0]})},
        "validate": {"validation_report.json": validation_report()},
        "transform": {"cleaning_log.json": cleaning_log(), "clean.parquet": clean_table()},
        "features": {"feature_spec.json": feature_spec()},
        "train": {"roi.csv": roi_table(), "diagnostics.json": diagnostics()},
        "optimize": {"allocation.csv": allocation, "scenarios.csv": scenarios_table(),
                     "summary.json": optimize_summary(allocation),
                     "optimization_summary.html": "<html><body>optimizer</body></html>"},
        "evaluate": {"metrics.json": metrics_document()},
    }
    folders = {}
    for stage, outputs in files.items():
        if stages is not None and stage not in stages:
            continue
        folder = root / stage
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in outputs.items():
            path = folder / name
            if isinstance(content, pd.DataFrame):
                content.to_parquet(path) if name.endswith(".parquet") else content.to_csv(path, index=False)
            elif isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(json.dumps(content), encoding="utf-8")
        folders[stage] = folder
    if model_file and "train" in folders:
        (folders["train"] / "model.binpb").write_bytes(b"not a real model")
    return folders


def fake_model_outputs() -> ModelOutputs:
    """Posterior summaries with the shapes :meth:`mmm_meridian.models.base.Engine.model_outputs` returns."""
    rng = np.random.default_rng(3)
    roi = roi_table()
    n = len(WEEKS)
    rows = [pd.DataFrame({"time": WEEKS, "component": "base", "component_type": "base",
                          "revenue": 260_000 + 300 * np.arange(n)}),
            pd.DataFrame({"time": WEEKS, "component": "seasonality_and_holidays", "component_type": "seasonality",
                          "revenue": 40_000 * np.sin(np.arange(n) / 8.3)}),
            pd.DataFrame({"time": WEEKS, "component": "other_controls", "component_type": "controls",
                          "revenue": rng.normal(0, 5_000, n)})]
    for r in roi.itertuples():
        weights = rng.uniform(0.5, 1.5, n)
        rows.append(pd.DataFrame({"time": WEEKS, "component": r.channel, "component_type": "media",
                                  "revenue": r.incremental_revenue * weights / weights.sum()}))
    decomposition = pd.concat(rows, ignore_index=True)
    expected = decomposition.groupby("time")["revenue"].sum().to_numpy()
    fit = pd.DataFrame({"time": WEEKS, "actual": expected + rng.normal(0, 9_000, n), "expected": expected,
                        "expected_lo_90": expected * 0.94, "expected_hi_90": expected * 1.06,
                        "baseline": expected * 0.8})
    mroi = pd.DataFrame({"channel": roi["channel"], "mroi_mean": roi["roi_mean"] * 0.45,
                         "mroi_median": roi["roi_mean"] * 0.43, "mroi_lo_90": roi["roi_lo_90"] * 0.4,
                         "mroi_hi_90": roi["roi_hi_90"] * 0.5})
    curves = []
    for r in roi.itertuples():
        for m in np.linspace(0, 2, 21):
            value = r.incremental_revenue * (1 - np.exp(-1.6 * m)) / (1 - np.exp(-1.6))
            curves.append({"channel": r.channel, "spend_multiplier": m, "spend": r.spend * m,
                           "incremental_revenue_mean": value, "incremental_revenue_lo": value * 0.6,
                           "incremental_revenue_hi": value * 1.4})
    return ModelOutputs(decomposition, fit, mroi, pd.DataFrame(curves), None)
