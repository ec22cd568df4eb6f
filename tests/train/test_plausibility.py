"""The plausibility gate on ROI tables shaped like train/roi.csv: each limit changes the verdict, failures name the
channel and the number, and on_failure decides between exit 2 and a warning."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.config import load_config
from mmm_meridian.config.modeling import PlausibilityConfig
from mmm_meridian.errors import ConfigError, UserError
from mmm_meridian.train import plausibility

TOTAL = 1000.0


def roi_table(**incremental: float) -> pd.DataFrame:
    """Channels with 100 of spend each and the given incremental revenue."""
    return pd.DataFrame({"channel": list(incremental), "spend": [100.0] * len(incremental),
                         "incremental_revenue": list(incremental.values()),
                         "roi_mean": [v / 100.0 for v in incremental.values()]})


def test_a_believable_model_passes_with_its_figures():
    result = plausibility.judge(roi_table(search=150.0, social=100.0), TOTAL, 0.05, {}, PlausibilityConfig())
    assert result.passed and result.failures == []
    assert result.media_share == pytest.approx(0.25)
    assert result.channel_share == {"search": pytest.approx(0.15), "social": pytest.approx(0.10)}
    assert [c.name for c in result.checks] == ["media_share", "channel_share", "channel_share",
                                               "negative_baseline_prob"]


def test_the_real_brand_story_fails_naming_the_channel_and_the_number():
    # The Conjura brand without business knowledge: meta_facebook "drove" 155 % of all revenue.
    result = plausibility.judge(roi_table(meta_facebook=1550.0, google_search=40.0), TOTAL, 1.0, {},
                                PlausibilityConfig())
    assert not result.passed
    assert result.failures == [
        "paid media drove 159 % of all revenue (> complexity.plausibility.max_media_share=0.8)",
        "meta_facebook drove 155 % of all revenue (> complexity.plausibility.max_channel_share=0.5)",
        "probability 1.00 that revenue without media is negative "
        "(> complexity.plausibility.max_negative_baseline_prob=0.8)"]
    with pytest.raises(UserError) as caught:
        plausibility.gate(result, "fail")
    assert "meta_facebook drove 155 % of all revenue" in caught.value.message
    assert "model.priors.roi_bounds" in caught.value.fix


@pytest.mark.parametrize(("limits", "failing"), [
    ({"max_media_share": 0.2}, "media_share"),
    ({"max_channel_share": 0.12}, "channel_share"),
    ({"max_negative_baseline_prob": 0.01}, "negative_baseline_prob"),
    ({"max_roi": 1.2}, "max_roi"),
])
def test_each_limit_changes_the_verdict(limits, failing):
    roi = roi_table(search=150.0, social=100.0)
    assert plausibility.judge(roi, TOTAL, 0.05, {}, PlausibilityConfig()).passed
    result = plausibility.judge(roi, TOTAL, 0.05, {}, PlausibilityConfig(**limits))
    assert [c.name for c in result.checks if not c.passed] == [failing]


def test_roi_far_outside_the_business_bounds_fails_on_either_side():
    roi = roi_table(search=150.0, social=10.0)  # ROI 1.5 and 0.1
    bounds = {"search": [0.2, 0.5], "social": [0.5, 2.0]}
    result = plausibility.judge(roi, TOTAL, None, bounds, PlausibilityConfig(roi_bounds_factor=2.0))
    assert result.failures == [
        "search ROI 1.50 vs roi_bounds [0.2, 0.5] (x/ 2): above 1.00 (complexity.plausibility.roi_bounds_factor)",
        "social ROI 0.10 vs roi_bounds [0.5, 2.0] (x/ 2): below 0.25 (complexity.plausibility.roi_bounds_factor)"]
    assert plausibility.judge(roi, TOTAL, None, bounds, PlausibilityConfig(roi_bounds_factor=6.0)).passed


def test_warn_keeps_the_model_and_says_so(caplog):
    result = plausibility.judge(roi_table(tv=900.0), TOTAL, 0.1, {}, PlausibilityConfig())
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.train.plausibility"):
        plausibility.gate(result, "warn")
    assert "tv drove 90 % of all revenue" in caplog.text
    assert "on_failure=warn" in caplog.text
    restored = plausibility.Plausibility.from_dict(result.to_dict())
    assert restored.failures == result.failures and not restored.passed


def test_limits_are_validated_at_start_up():
    with pytest.raises(ConfigError, match="complexity.plausibility.roi_bounds_factor=0.5 is out of range"):
        load_config(["complexity.plausibility.roi_bounds_factor=0.5"])
    cfg = load_config(["complexity.plausibility.max_channel_share=0.3", "complexity.plausibility.on_failure=warn"])
    assert cfg.complexity.plausibility.max_channel_share == 0.3
    assert cfg.complexity.plausibility.on_failure.value == "warn"


def test_the_train_stage_judges_without_the_excluded_weeks_placeholder_revenue(tmp_path):
    """A KPI gap kept out of the likelihood (kpi_long_gaps=exclude) carries placeholder revenue in model_inputs:
    the stage's gate leaves it out of total revenue, so media's share is judged on real revenue only."""
    from types import SimpleNamespace

    from mmm_meridian.feature_spec import INPUTS_FILE, SPEC_FILE
    from mmm_meridian.features.stage import build_features
    from mmm_meridian.models.diagnostics import Diagnostics
    from mmm_meridian.simulate import load_demo
    from mmm_meridian.train.stage import check_plausibility
    from tests.features.helpers import clean_table

    cfg = load_config([f"paths.root={tmp_path}", "complexity.plausibility.on_failure=warn"])
    clean = clean_table(load_demo(), territories=["GB"])
    weeks = sorted(pd.to_datetime(clean[cols.TIME]).dt.strftime("%Y-%m-%d").unique())
    gap = weeks[40:71]
    features, out = tmp_path / "features", tmp_path / "train"
    features.mkdir()
    out.mkdir()
    inputs, spec = build_features(clean, cfg, {cols.NATIONAL: gap})
    inputs.to_parquet(features / INPUTS_FILE)
    (features / SPEC_FILE).write_text(json.dumps(spec.to_dict()))
    roi = roi_table(google_search=1.0e6)
    roi.to_csv(out / "roi.csv", index=False)
    total = float(inputs["revenue"].sum())
    ctx = SimpleNamespace(cfg=cfg, out=SimpleNamespace(dir=out, write_json=lambda name, obj: (out / name).write_text(
        json.dumps(obj))), input_path=lambda stage, name: tmp_path / stage / name)
    diagnostics = Diagnostics(1.0, 1000.0, 0, 100, 2, True, [], [], {},
                              extra={"revenue_figures": {"total_revenue": total, "negative_baseline_prob": 0.0}})
    verdict = check_plausibility(ctx, diagnostics)
    placeholder = float(inputs.loc[pd.to_datetime(inputs["time"]).dt.strftime("%Y-%m-%d").isin(gap), "revenue"].sum())
    assert verdict.excluded_weeks == 31 and verdict.excluded_revenue == pytest.approx(placeholder)
    assert verdict.total_revenue == pytest.approx(total - placeholder)
    assert json.loads((out / "plausibility.json").read_text())["excluded_weeks"] == 31
