"""Evaluation check settings set by their dotted config names change the verdicts the evaluate stage records.

The checks run on a stand-in for a fitted model's summary (no Meridian fit): :class:`Evaluator` is built without
its constructor, which loads ``train/model.binpb``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.evaluate.stage import Evaluator
from mmm_meridian.models.base import ModelSummary

TIMES = ["2024-01-01", "2024-01-08"]
# Model incremental revenue vs platform-reported revenue: search 100 / 200 = 0.5, social 200 / 100 = 2.0.
MODEL = {"search": 100.0, "social": 200.0}
PLATFORM = {"search": [120.0, 80.0], "social": [60.0, 40.0]}


def _evaluator(cfg, tmp_path) -> Evaluator:
    folder = tmp_path / "transform"
    folder.mkdir(parents=True, exist_ok=True)
    clean = pd.DataFrame({cols.TIME: pd.to_datetime(TIMES), cols.GEO: "national", cols.REVENUE: [500.0, 500.0],
                          **{cols.platform_revenue(c): v for c, v in PLATFORM.items()}})
    clean.to_parquet(folder / "clean.parquet")
    evaluator = Evaluator.__new__(Evaluator)
    evaluator.ctx = SimpleNamespace(input_path=lambda stage, name: tmp_path / stage / name)
    evaluator.cfg, evaluator.ev = cfg, cfg.evaluation
    evaluator.blocking, evaluator.checks = list(cfg.evaluation.metrics.blocking), []
    evaluator.summary = ModelSummary(
        roi=pd.DataFrame({"channel": list(MODEL), "incremental_revenue": list(MODEL.values()), "roi_mean": [2.0, 3.0]}),
        channels=list(MODEL), times=TIMES, geos=["national_geo"], total_revenue=1000.0, media_revenue=300.0,
        negative_baseline_prob=0.1)
    return evaluator


def _checks(evaluator: Evaluator) -> dict:
    return {c.name: c for c in evaluator.checks}


def test_incrementality_bounds_decide_which_channels_are_flagged(make_cfg, tmp_path):
    flagged = {}
    for bounds in ("[0.1,1.5]", "[0.6,2.5]"):
        evaluator = _evaluator(make_cfg(f"evaluation.digital_checks.incrementality_bounds={bounds}"),
                               tmp_path / bounds.strip("[]"))
        rows = evaluator.digital()
        assert {r["channel"]: r["ratio"] for r in rows} == {"search": pytest.approx(0.5), "social": pytest.approx(2.0)}
        check = _checks(evaluator)["digital_checks"]
        flagged[bounds] = ([r["channel"] for r in rows if r["flagged"]], check.value, check.passed, check.detail)
    assert flagged["[0.1,1.5]"] == (["social"], 1.0, False, "ratio outside [0.1, 1.5] for ['social']")
    assert flagged["[0.6,2.5]"] == (["search"], 1.0, False, "ratio outside [0.6, 2.5] for ['search']")


def test_media_share_range_is_the_share_of_revenue_media_may_take(make_cfg, tmp_path):
    verdicts = {}
    for share_range in ("[0.4,0.9]", "[0.2,0.5]"):
        evaluator = _evaluator(make_cfg(f"evaluation.business_checks.media_share_range={share_range}"),
                               tmp_path / share_range.strip("[]"))
        doc = evaluator.business()
        assert doc["media_share"] == pytest.approx(0.3)
        check = _checks(evaluator)["media_share"]
        verdicts[share_range] = (check.passed, check.detail)
    assert verdicts == {"[0.4,0.9]": (False, "expected within [0.4, 0.9]"),
                        "[0.2,0.5]": (True, "expected within [0.2, 0.5]")}


def test_max_negative_baseline_prob_is_the_threshold_of_the_negative_baseline_check(make_cfg, tmp_path):
    verdicts = {}
    for limit in ("0.05", "0.2"):
        evaluator = _evaluator(make_cfg(f"evaluation.business_checks.max_negative_baseline_prob={limit}"),
                               tmp_path / limit)
        assert evaluator.business()["negative_baseline_prob"] == 0.1
        check = _checks(evaluator)["negative_baseline"]
        verdicts[limit] = (check.value, check.threshold, check.passed)
    assert verdicts == {"0.05": (0.1, 0.05, False), "0.2": (0.1, 0.2, True)}
