"""Read the upstream artifacts the report draws on, tolerating the absent ones (their sections are left out).

Every reader returns ``None`` when its file is missing or lacks the columns the report needs, and records a note
saying what is missing and which stage to run: the deck prints those notes instead of the section, so nothing is
ever faked. ``train/roi.csv`` is the one input the report cannot do without.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mmm_meridian.errors import MissingArtifactError

log = logging.getLogger(__name__)

ROI_COLUMNS = ["channel", "spend", "incremental_revenue", "roi_mean", "roi_lo_90", "roi_hi_90"]
ALLOCATION_COLUMNS = ["channel", "current_spend", "recommended_spend"]
SCENARIO_COLUMNS = ["scenario", "budget"]
CURVE_COLUMNS = ["channel", "spend", "incremental_revenue_mean"]
# evaluate/calibration.csv (see mmm_meridian.evaluate.calibration): what the "Model vs experiments" page needs.
CALIBRATION_COLUMNS = ["row", "channel", "geo", "start", "end", "measured_roi", "measured_roi_lo_90",
                       "measured_roi_hi_90", "model_roi_mean", "model_roi_lo_90", "model_roi_hi_90", "inside"]


@dataclass
class ReportInputs:
    """The upstream artifacts, each ``None`` when absent (see ``notes``)."""

    roi: pd.DataFrame
    clean: pd.DataFrame | None = None
    validation: dict[str, Any] | None = None
    cleaning: dict[str, Any] | None = None
    feature_spec: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    plausibility: dict[str, Any] | None = None
    allocation: pd.DataFrame | None = None
    scenarios: pd.DataFrame | None = None
    optimize_summary: dict[str, Any] | None = None
    response_curves: pd.DataFrame | None = None
    metrics: dict[str, Any] | None = None
    optimize_html: Path | None = None
    model_path: Path | None = None
    second_opinion: pd.DataFrame | None = None  # train/second_opinion.csv (model.second_opinion)
    calibration: pd.DataFrame | None = None  # evaluate/calibration.csv (lift tests, calibration.experiments)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        log.warning("report: %s", text)
        self.notes.append(text)

    @property
    def excluded_weeks(self) -> list[str]:
        """Weeks (ISO dates) whose revenue is a placeholder in at least one geo (``kpi_long_gaps=exclude``: the
        feature spec's ``excluded_weeks``); they are not real revenue and are left out of totals and the fit chart."""
        spec = self.feature_spec or {}
        weeks = spec.get("excluded_weeks") or {}
        return sorted({str(w) for listed in weeks.values() for w in listed}) if isinstance(weeks, dict) else []

    @property
    def kpi_type(self) -> str:
        """``revenue`` or ``conversions`` (the feature spec's; ``revenue`` when unknown)."""
        return str((self.feature_spec or {}).get("kpi_type") or "revenue")

    @property
    def control_kinds(self) -> dict[str, str]:
        """Control name -> kind (annual_fourier, holiday, data_control ...) from the feature spec."""
        spec = self.feature_spec or {}
        return {str(c.get("name")): str(c.get("kind", "")) for c in spec.get("controls", []) if isinstance(c, dict)}


def _json(path: Path, inputs: ReportInputs, stage: str) -> dict[str, Any] | None:
    if not path.is_file():
        inputs.note(f"{stage}/{path.name} is missing: its section is left out (run `mmm {stage}`)")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        inputs.note(f"{stage}/{path.name} is not valid JSON ({exc}): its section is left out")
        return None
    if isinstance(data, list):  # a bare list of actions (older cleaning logs)
        data = {"changes": data}
    return data if isinstance(data, dict) else None


def _table(path: Path, inputs: ReportInputs, stage: str, needed: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        inputs.note(f"{stage}/{path.name} is missing: its section is left out (run `mmm {stage}`)")
        return None
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        inputs.note(f"{stage}/{path.name} lacks column(s) {missing}: its section is left out")
        return None
    return frame


def read_roi(path: Path) -> pd.DataFrame:
    """``train/roi.csv``, required.

    Raises:
        MissingArtifactError: the file is missing or lacks the ROI columns.
    """
    if not path.is_file():
        raise MissingArtifactError("the report needs train/roi.csv, which does not exist", where=str(path),
                                   fix="run `mmm train` first")
    roi = pd.read_csv(path)
    missing = [c for c in ROI_COLUMNS if c not in roi.columns]
    if missing:
        raise MissingArtifactError(f"train/roi.csv lacks column(s) {missing}", where=str(path),
                                   fix="re-run `mmm train` with this version of the package")
    return roi


def load_inputs(folders: dict[str, Path], model_file: str = "model.binpb") -> ReportInputs:
    """Read every artifact the report uses from the stage folders in ``folders`` (stage name -> folder);
    ``model_file`` is the engine's saved model in ``train/``."""

    def where(stage: str) -> Path:
        return folders.get(stage, Path("/nonexistent") / stage)

    inputs = ReportInputs(roi=read_roi(where("train") / "roi.csv"))
    inputs.validation = _json(where("validate") / "validation_report.json", inputs, "validate")
    inputs.cleaning = _json(where("transform") / "cleaning_log.json", inputs, "transform")
    inputs.clean = _table(where("transform") / "clean.parquet", inputs, "transform", ["time", "revenue"])
    spec_path = where("features") / "feature_spec.json"
    inputs.feature_spec = json.loads(spec_path.read_text(encoding="utf-8")) if spec_path.is_file() else None
    inputs.diagnostics = _json(where("train") / "diagnostics.json", inputs, "train")
    plausibility = where("train") / "plausibility.json"
    inputs.plausibility = _json(plausibility, inputs, "train") if plausibility.is_file() else None
    second = where("train") / "second_opinion.csv"
    inputs.second_opinion = pd.read_csv(second) if second.is_file() else None
    model = where("train") / model_file
    inputs.model_path = model if model.exists() else None
    if inputs.model_path is None:
        inputs.note(f"train/{model_file} is missing: contributions over time, the fit chart, marginal ROI and "
                    "the engine's model summary are left out (run `mmm train`)")
    opt = where("optimize")
    inputs.allocation = _table(opt / "allocation.csv", inputs, "optimize", ALLOCATION_COLUMNS)
    inputs.scenarios = _table(opt / "scenarios.csv", inputs, "optimize", SCENARIO_COLUMNS)
    inputs.optimize_summary = _json(opt / "summary.json", inputs, "optimize")
    curves = opt / "response_curves.csv"
    inputs.response_curves = pd.read_csv(curves) if curves.is_file() else None
    if inputs.response_curves is not None and any(c not in inputs.response_curves for c in CURVE_COLUMNS):
        inputs.response_curves = None
    html = opt / "optimization_summary.html"
    inputs.optimize_html = html if html.is_file() else None
    inputs.metrics = _json(where("evaluate") / "metrics.json", inputs, "evaluate")
    calibration = where("evaluate") / "calibration.csv"  # only written when there are experiments: no note if absent
    if calibration.is_file():
        inputs.calibration = _table(calibration, inputs, "evaluate", CALIBRATION_COLUMNS)
    return inputs
