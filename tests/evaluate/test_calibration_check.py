"""Evaluate's calibration check: the model's ROI over each lift test's weeks and geo against the measured one.

No model is fitted: the engine's :meth:`experiment_roi` is a stub returning known figures, so every interval, flag
and difference below is worked out by hand (measured 90 % interval: roi +- 1.645 x roi_se).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from mmm_meridian.artifacts import ArtifactStore, StageWriter
from mmm_meridian.evaluate import calibration, convergence, stage
from mmm_meridian.feature_spec import ExperimentInput
from mmm_meridian.models.base import EXPERIMENT_ROI_COLUMNS
from mmm_meridian.pipeline import StageContext

EXPERIMENTS = [
    # TV: measured 1.2 +- 1.645 x 0.4 = [0.542, 1.858]; the model says 2.0 (1.6 to 2.5): above, intervals overlap.
    ExperimentInput(row=1, channel="tv", start="2024-03-04", end="2024-03-25", geo=None, roi=1.2, roi_se=0.4,
                    measured="roi", spend=50_000.0),
    # Search: measured 3.0 +- 0.8225 = [2.1775, 3.8225]; the model says 2.8: inside.
    ExperimentInput(row=2, channel="search", start="2024-05-06", end="2024-05-27", geo=None, roi=3.0, roi_se=0.5,
                    measured="roi", spend=20_000.0),
    # Social in geo north, from incremental revenue 5,000 +- 1,000 over 10,000 of spend: ROI 0.5 +- 0.1645; the
    # model says 1.5 (1.2 to 1.9): above, and the intervals do not overlap.
    ExperimentInput(row=3, channel="social", start="2024-06-03", end="2024-06-24", geo="north", roi=0.5,
                    roi_se=0.1, measured="incremental_revenue", spend=10_000.0, incremental_revenue=5_000.0,
                    incremental_revenue_se=1_000.0),
    # TV again, later: measured 1.8 +- 0.329 = [1.471, 2.129]; the model says 1.9: inside.
    ExperimentInput(row=4, channel="tv", start="2024-09-02", end="2024-09-23", geo=None, roi=1.8, roi_se=0.2,
                    measured="roi", spend=60_000.0),
]
MODEL = {1: (2.0, 1.95, 1.6, 2.5), 2: (2.8, 2.75, 2.3, 3.3), 3: (1.5, 1.45, 1.2, 1.9), 4: (1.9, 1.9, 1.5, 2.3)}


def model_roi(model: Any, experiments: list[ExperimentInput]) -> pd.DataFrame:
    """What an engine's ``experiment_roi`` returns for ``EXPERIMENTS`` (rows in an order of its own)."""
    rows = [{"row": e.row, "channel": e.channel, "spend": e.spend,
             "model_incremental_revenue": e.spend * MODEL[e.row][0], "model_roi_mean": MODEL[e.row][0],
             "model_roi_median": MODEL[e.row][1], "model_roi_lo_90": MODEL[e.row][2],
             "model_roi_hi_90": MODEL[e.row][3]} for e in reversed(experiments)]
    return pd.DataFrame(rows, columns=list(EXPERIMENT_ROI_COLUMNS))


def test_each_experiment_is_judged_against_its_measured_90_percent_interval():
    table = calibration.compare(EXPERIMENTS, model_roi(None, EXPERIMENTS))
    assert list(table.columns) == list(calibration.CALIBRATION_COLUMNS)
    assert list(table["row"]) == [1, 2, 3, 4]  # the experiments' order, whatever the engine's
    assert table["measured_roi_lo_90"].tolist() == pytest.approx([0.542, 2.1775, 0.3355, 1.471])
    assert table["measured_roi_hi_90"].tolist() == pytest.approx([1.858, 3.8225, 0.6645, 2.129])
    assert table["inside"].tolist() == [False, True, False, True]
    assert table["intervals_overlap"].tolist() == [True, True, False, True]
    assert table["difference"].tolist() == pytest.approx([0.8, -0.2, 1.0, 0.1])
    assert table["model_roi_lo_90"].tolist() == [1.6, 2.3, 1.2, 1.5]
    assert table["model_incremental_revenue"].tolist() == pytest.approx([100_000.0, 56_000.0, 15_000.0, 114_000.0])
    assert table["geo"].tolist() == [None, None, "north", None]


def test_an_engine_table_missing_an_experiment_is_refused():
    with pytest.raises(ValueError, match=r"no row for experiment\(s\) \[3\]"):
        calibration.compare(EXPERIMENTS, model_roi(None, EXPERIMENTS).query("row != 3"))


def test_section_counts_and_says_each_verdict_in_words():
    doc = calibration.section(calibration.compare(EXPERIMENTS, model_roi(None, EXPERIMENTS)))
    assert (doc["n"], doc["n_inside"], doc["share_inside"]) == (4, 2, 0.5)
    first, _, third, _ = doc["experiments"]
    assert first["verdict"] == ("disagrees: model ROI 2.00 (90 % interval 1.60 to 2.50) lies above the test's "
                                "interval; measured ROI 1.20 (90 % interval 0.54 to 1.86); the intervals overlap")
    assert third["verdict"].endswith("the intervals do not even overlap")
    assert doc["experiments"][1]["verdict"].startswith("agrees: model ROI 2.80")
    assert first["measured_roi_interval"] == pytest.approx([0.542, 1.858])
    json.dumps(doc)  # metrics.json holds it as it is
    check = calibration.check(doc)
    assert (check.value, check.passed, check.blocking) == (2.0, None, False)
    assert check.detail.endswith("disagree: row 1 (tv), row 3 (social)")


def test_experiments_come_from_the_feature_spec():
    spec = {"experiments": [e.to_dict() for e in EXPERIMENTS]}
    assert calibration.experiments_from_spec(spec) == EXPERIMENTS
    assert calibration.experiments_from_spec({}) == []


class CalibrationEvaluator(stage.Evaluator):
    """The stage's Evaluator with no saved model and no strategies: only the calibration check has work to do."""

    _early = None

    def load(self) -> None:  # no saved model
        pass

    def start_temporal_refit(self) -> None:  # no strategies
        pass

    def __init__(self, ctx: Any) -> None:
        self.ctx, self.cfg, self.ev = ctx, ctx.cfg, ctx.cfg.evaluation
        self.engine = SimpleNamespace(experiment_roi=model_roi)
        self.mmm, self.plan, self._base = object(), None, None
        self.blocking, self.checks = list(self.ev.metrics.blocking), []
        self.policy = convergence.on_failure(ctx.cfg)
        self.excluded_weeks = {}
        self.experiments = EXPERIMENTS


def run_stage(make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, Path]:
    cfg = make_cfg("evaluation.validation_strategies.temporal_holdout.enabled=false",
                   "evaluation.validation_strategies.rolling_origin.enabled=false",
                   "evaluation.validation_strategies.geo_holdout.enabled=false",
                   "evaluation.digital_checks.enabled=false", "evaluation.business_checks.enabled=false")
    monkeypatch.setattr(stage, "Evaluator", CalibrationEvaluator)
    out = tmp_path / "evaluate"
    out.mkdir()
    ctx = StageContext(cfg, "evaluate", ArtifactStore(cfg.paths.artifacts), StageWriter("evaluate", out), {},
                       logging.getLogger("test.evaluate"))
    return stage.run(ctx), out


def test_the_stage_writes_calibration_csv_and_section_and_warns_without_stopping(make_cfg, tmp_path, monkeypatch,
                                                                                 caplog):
    with caplog.at_level(logging.WARNING, logger="test.evaluate"):
        summary, out = run_stage(make_cfg, tmp_path, monkeypatch)
    written = pd.read_csv(out / calibration.CALIBRATION_FILE)
    assert written["inside"].tolist() == [False, True, False, True]
    assert written["measured_roi_lo_90"].tolist() == pytest.approx([0.542, 2.1775, 0.3355, 1.471])
    assert written["model_roi_mean"].tolist() == [2.0, 2.8, 1.5, 1.9]
    assert written["geo"].fillna("").tolist() == ["", "", "north", ""]  # empty: a national test, as in the input
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["calibration"]["n_inside"] == 2 and doc["calibration"]["share_inside"] == 0.5
    assert doc["passed"] is True and doc["failed"] == []  # a disagreement is reported, not a failure
    assert {c["name"]: c["passed"] for c in doc["checks"]} == {"calibration": None}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "experiment row 1: tv, 2024-03-04 to 2024-03-25, all geos: disagrees" in warnings[0]
    assert "experiment row 3: social, 2024-06-03 to 2024-06-24, geo north: disagrees" in warnings[1]
    assert (summary["calibration_experiments"], summary["calibration_inside"]) == (4, 2)


def test_without_experiments_there_is_no_calibration_output(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(CalibrationEvaluator, "__init__", _no_experiments)
    summary, out = run_stage(make_cfg, tmp_path, monkeypatch)
    assert not (out / calibration.CALIBRATION_FILE).exists()
    assert "calibration" not in json.loads((out / "metrics.json").read_text())
    assert "calibration_experiments" not in summary


def _no_experiments(self: CalibrationEvaluator, ctx: Any) -> None:
    self.ctx, self.cfg, self.ev = ctx, ctx.cfg, ctx.cfg.evaluation
    self.engine = SimpleNamespace(experiment_roi=pytest.fail)  # must not be asked
    self.blocking, self.checks, self.excluded_weeks, self.experiments = [], [], {}, []
