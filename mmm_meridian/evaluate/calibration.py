"""Evaluate's calibration check: does the fitted model agree with the lift tests (``calibration.experiments``)?

For every experiment the engine gives the model's ROI of the tested channel's spend over the test's weeks and geo
(:meth:`mmm_meridian.models.base.Engine.experiment_roi`); it is compared with the measured ROI's 90 % interval
(``roi +- 1.645 x roi_se``, a normal approximation of the test's sampling error). The check is reported, never a
gate: an experiment the model disagrees with is a warning naming it, in the log, ``evaluate/calibration.csv``,
``metrics.json`` and the deck, because the business must look at it, but it does not mean the model is unusable
(the test's own window, geo or set-up may be the odd one out).

``evaluate/calibration.csv`` has one row per experiment, :data:`CALIBRATION_COLUMNS`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from mmm_meridian.evaluate.metrics import Check
from mmm_meridian.feature_spec import ExperimentInput
from mmm_meridian.models.base import EXPERIMENT_ROI_COLUMNS

#: z of a two-sided 90 % normal interval: the measured ROI's interval matches the model's 5th-95th percentile.
Z_90 = 1.645
CALIBRATION_FILE = "calibration.csv"
CALIBRATION_COLUMNS = ("row", "channel", "geo", "start", "end", "measured", "spend", "measured_roi",
                       "measured_roi_se", "measured_roi_lo_90", "measured_roi_hi_90", "model_roi_mean",
                       "model_roi_median", "model_roi_lo_90", "model_roi_hi_90", "model_incremental_revenue",
                       "inside", "intervals_overlap", "difference")


def experiments_from_spec(spec: dict[str, Any]) -> list[ExperimentInput]:
    """The resolved experiments recorded in ``feature_spec.json`` (empty when there are none).

    Read from the features stage's spec, not from ``calibration.experiments``: the spec holds each test resolved
    against the data (weeks, spend, ROI from incremental revenue), and evaluate's config reads stay unchanged.
    """
    return [ExperimentInput(**row) for row in spec.get("experiments") or []]


def measured_interval(roi: float, roi_se: float) -> tuple[float, float]:
    """The measured ROI's 90 % interval, ``roi +- 1.645 x roi_se``."""
    return roi - Z_90 * roi_se, roi + Z_90 * roi_se


def compare(experiments: list[ExperimentInput], model_roi: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment (:data:`CALIBRATION_COLUMNS`): the measured ROI and its interval beside the model's.

    ``inside``: the model's posterior-mean ROI lies in the measured 90 % interval (the verdict); ``intervals_overlap``:
    the two 90 % intervals share a value (a softer reading, shown in words); ``difference``: model mean minus measured.

    Raises:
        ValueError: the engine's table lacks an experiment or a column of :data:`EXPERIMENT_ROI_COLUMNS`.
    """
    missing_columns = [c for c in EXPERIMENT_ROI_COLUMNS if c not in model_roi.columns]
    if missing_columns:
        raise ValueError(f"the engine's experiment ROI table lacks column(s) {missing_columns}")
    by_row = model_roi.set_index("row")
    missing_rows = [e.row for e in experiments if e.row not in by_row.index]
    if missing_rows:
        raise ValueError(f"the engine's experiment ROI table has no row for experiment(s) {missing_rows}")
    rows = []
    for e in experiments:
        model = by_row.loc[e.row]
        lo, hi = measured_interval(e.roi, e.roi_se)
        mean, model_lo, model_hi = (float(model[k]) for k in ("model_roi_mean", "model_roi_lo_90", "model_roi_hi_90"))
        rows.append({"row": e.row, "channel": e.channel, "geo": e.geo, "start": e.start, "end": e.end,
                     "measured": e.measured, "spend": e.spend, "measured_roi": e.roi, "measured_roi_se": e.roi_se,
                     "measured_roi_lo_90": lo, "measured_roi_hi_90": hi, "model_roi_mean": mean,
                     "model_roi_median": float(model["model_roi_median"]), "model_roi_lo_90": model_lo,
                     "model_roi_hi_90": model_hi,
                     "model_incremental_revenue": float(model["model_incremental_revenue"]),
                     "inside": bool(lo <= mean <= hi), "intervals_overlap": bool(model_lo <= hi and lo <= model_hi),
                     "difference": mean - e.roi})
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def describe(row: dict[str, Any]) -> str:
    """An experiment in words: ``row 2: tv, 2024-03-04 to 2024-03-31, geo north`` (``all geos`` when national)."""
    where = f"geo {row['geo']}" if isinstance(row["geo"], str) and row["geo"] else "all geos"
    return f"row {row['row']}: {row['channel']}, {row['start']} to {row['end']}, {where}"


def verdict(row: dict[str, Any]) -> str:
    """One experiment's verdict in words (``metrics.json`` and the log)."""
    measured = (f"measured ROI {row['measured_roi']:.2f} (90 % interval {row['measured_roi_lo_90']:.2f} to "
                f"{row['measured_roi_hi_90']:.2f})")
    model = (f"model ROI {row['model_roi_mean']:.2f} (90 % interval {row['model_roi_lo_90']:.2f} to "
             f"{row['model_roi_hi_90']:.2f})")
    if row["inside"]:
        return f"agrees: {model} inside the test's interval; {measured}"
    side = "above" if row["difference"] > 0 else "below"
    overlap = ("the intervals overlap" if row["intervals_overlap"] else
               "the intervals do not even overlap")
    return f"disagrees: {model} lies {side} the test's interval; {measured}; {overlap}"


def section(table: pd.DataFrame) -> dict[str, Any]:
    """``metrics.json``'s ``calibration`` section: counts and each experiment's verdict in words."""
    records = table.to_dict("records")
    n, inside = len(records), sum(bool(r["inside"]) for r in records)
    experiments = [{"row": int(r["row"]), "channel": r["channel"], "geo": r["geo"], "start": r["start"],
                    "end": r["end"], "measured_roi": r["measured_roi"],
                    "measured_roi_interval": [r["measured_roi_lo_90"], r["measured_roi_hi_90"]],
                    "model_roi_mean": r["model_roi_mean"],
                    "model_roi_interval": [r["model_roi_lo_90"], r["model_roi_hi_90"]], "inside": bool(r["inside"]),
                    "intervals_overlap": bool(r["intervals_overlap"]), "difference": r["difference"],
                    "verdict": verdict(r)} for r in records]
    return {"interval": 0.9, "n": n, "n_inside": inside, "share_inside": inside / n if n else None,
            "file": CALIBRATION_FILE, "experiments": experiments}


def check(doc: dict[str, Any]) -> Check:
    """The calibration check for evaluate's summary: reported only (``passed`` None), never blocking."""
    outside = [f"row {e['row']} ({e['channel']})" for e in doc["experiments"] if not e["inside"]]
    detail = (f"{doc['n_inside']} of {doc['n']} experiment(s) agree with the model (its ROI inside the test's 90 % "
              "interval)" + (f"; disagree: {', '.join(outside)}" if outside else ""))
    return Check("calibration", float(doc["n_inside"]), None, "flag", None, False, detail)


def warn_disagreements(table: pd.DataFrame, log: logging.Logger | logging.LoggerAdapter) -> None:
    """A warning per experiment the model disagrees with, naming it (a disagreement is reported, not a stop)."""
    for row in table.to_dict("records"):
        if not row["inside"]:
            log.warning("evaluate: calibration: experiment %s: %s; check the test's set-up and the channel's data "
                        "before acting on either number", describe(row), verdict(row))

