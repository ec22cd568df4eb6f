"""Meridian's media vocabulary through the features stage: reach-and-frequency channels, organic media, non-media
treatments and a conversions KPI become the model inputs and feature_spec.json entries the engines read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import (
    REVENUE_PER_KPI,
    FeatureSpec,
    frequency_column,
    media_column,
    organic_column,
    reach_column,
    spend_column,
)
from mmm_meridian.features.priors import RF_DEFAULT_K
from mmm_meridian.features.stage import build_features
from mmm_meridian.simulate import load_demo
from tests.features.helpers import clean_table

VOCABULARY = ("++data.reach_map.google_display=display_reach", "++data.frequency_map.google_display=display_frequency",
              "++data.organic_map.newsletter=newsletter_sends", "data.non_media_treatments=[price_index]",
              "data.kpi_type=conversions", "data.revenue_per_kpi_col=order_value")


@pytest.fixture(scope="module")
def clean():
    table = clean_table(load_demo(), territories=["GB"])
    frequency = 1.5 + 0.5 * np.sin(np.arange(len(table)) / 5.0)
    table[cols.reach("google_display")] = (table[cols.impressions("google_display")] / frequency).round()
    table[cols.frequency("google_display")] = frequency
    table[cols.organic("newsletter")] = 1000.0 + 100 * (np.arange(len(table)) % 4)
    table["price_index"] = 1.0 - 0.1 * (np.arange(len(table)) % 3 == 0)
    table[cols.REVENUE_PER_KPI] = 50.0
    table[cols.REVENUE] = table[cols.REVENUE] / 50.0  # the KPI is now the number of orders
    return table


def test_each_piece_of_the_vocabulary_reaches_the_model_inputs_and_the_spec(make_cfg, clean):
    cfg = make_cfg(*VOCABULARY)
    inputs, spec = build_features(clean, cfg)
    # R&F channels come after the media channels (Meridian's order of paid channels), with reach and frequency as media
    assert spec.channel_names[-1] == "google_display" and [c.channel for c in spec.rf_channels] == ["google_display"]
    rf = spec.rf_channels[0]
    assert rf.media_source == "reach_frequency" and rf.source_column == "display_reach" and rf.is_rf
    assert media_column("google_display") not in inputs
    np.testing.assert_allclose(inputs[reach_column("google_display")], clean[cols.reach("google_display")])
    np.testing.assert_allclose(inputs[frequency_column("google_display")], clean[cols.frequency("google_display")])
    np.testing.assert_allclose(inputs[spend_column("google_display")], clean[cols.spend("google_display")])
    # its half-saturation prior is a frequency: Meridian's R&F default, not the media channels' k
    assert rf.priors.k == pytest.approx(RF_DEFAULT_K) and rf.priors.k_source.startswith("default for reach")
    assert {c.channel: c.priors.k for c in spec.media_channels}["tiktok"] == cfg.features.saturation.k
    # organic media and the treatment: their own entries, not controls
    assert [(o.name, o.source_column) for o in spec.organic] == [("newsletter", "newsletter_sends")]
    assert [(t.name, t.kind) for t in spec.treatments] == [("price_index", "non_media_treatment")]
    assert "price_index" not in spec.control_names and "newsletter" not in spec.control_names
    np.testing.assert_allclose(inputs[organic_column("newsletter")], clean[cols.organic("newsletter")])
    np.testing.assert_allclose(inputs["price_index"], clean["price_index"])
    # a conversions KPI keeps the orders and their value
    assert spec.kpi_type == "conversions"
    np.testing.assert_allclose(inputs[cols.REVENUE], clean[cols.REVENUE])
    assert (inputs[REVENUE_PER_KPI] == 50.0).all()
    # and the spec round-trips through feature_spec.json
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_without_the_vocabulary_the_spec_has_none_of_it(make_cfg, clean):
    inputs, spec = build_features(clean, make_cfg())
    assert not spec.rf_channels and not spec.organic and not spec.treatments and spec.kpi_type == "revenue"
    assert REVENUE_PER_KPI not in inputs and spec.channel_names == make_cfg().channels


@pytest.mark.parametrize(("column", "override", "what"), [
    (cols.organic("newsletter"), "++data.organic_map.newsletter=newsletter_sends", "organic medium newsletter"),
    ("price_index", "data.non_media_treatments=[price_index]", "non-media treatment price_index"),
])
def test_a_constant_cause_is_refused_naming_it(make_cfg, clean, column, override, what):
    flat = clean.assign(**{column: 3.0})
    with pytest.raises(DataError, match=f"the {what} is constant \\(3\\) over the modelled weeks"):
        build_features(flat, make_cfg(override))


def test_a_frame_without_the_value_per_conversion_is_refused(make_cfg, clean):
    with pytest.raises(DataError, match="lacks column\\(s\\) \\['revenue_per_kpi'\\] needed for a conversions KPI"):
        build_features(clean.drop(columns=[cols.REVENUE_PER_KPI]), make_cfg(*VOCABULARY[-2:]))


def test_weekly_aggregation_weights_the_value_per_conversion_by_conversions(make_cfg):
    from mmm_meridian.tables.weekly import to_weekly

    days = pd.date_range("2024-01-01", periods=14, freq="D")
    std = pd.DataFrame({cols.TIME: days, cols.GEO: cols.NATIONAL, cols.REVENUE: [1.0] * 6 + [3.0] + [2.0] * 7,
                        cols.REVENUE_PER_KPI: [10.0] * 6 + [30.0] + [10.0] * 7, cols.spend("tiktok"): 1.0})
    cfg = make_cfg("data.kpi_type=conversions", "data.revenue_per_kpi_col=value", "data.frequency=daily")
    weekly, _ = to_weekly(std, cfg)
    # week 1: 9 orders worth 6 x 10 + 3 x 30 = 150, i.e. 16.67 per order (a plain mean of the days would say 12.86)
    assert weekly[cols.REVENUE].tolist() == [9.0, 14.0]
    assert weekly[cols.REVENUE_PER_KPI].tolist() == pytest.approx([150 / 9, 10.0])


def test_daily_reach_and_frequency_is_refused(make_cfg):
    from mmm_meridian.tables.weekly import to_weekly

    days = pd.date_range("2024-01-01", periods=14, freq="D")
    std = pd.DataFrame({cols.TIME: days, cols.GEO: cols.NATIONAL, cols.REVENUE: 1.0, cols.spend("tiktok"): 1.0})
    cfg = make_cfg("++data.reach_map.tiktok=r", "++data.frequency_map.tiktok=f", "data.frequency=daily")
    with pytest.raises(DataError, match="cannot be made weekly from daily rows"):
        to_weekly(std, cfg)


def test_lift_tests_become_the_tested_channels_roi_prior_through_the_pipeline(make_cfg, tmp_path):
    import json

    from mmm_meridian.artifacts import ArtifactStore
    from mmm_meridian.features.calibration import lognormal_from_mean_sd
    from mmm_meridian.pipeline import run_stage

    tests = tmp_path / "lift_tests.csv"
    tests.write_text("channel,start,end,roi,roi_se\ntiktok,2023-03-06,2023-04-02,1.5,0.3\n"
                     "tiktok,2023-09-04,2023-10-01,0.9,0.3\n", encoding="utf-8")
    cfg = make_cfg(f"calibration.experiments={tests}")
    store = ArtifactStore(cfg.paths.artifacts)
    for stage in ("ingest", "validate", "transform", "features"):
        run_stage(cfg, stage, store)
    spec = FeatureSpec.read(store.stage_dir("features") / "feature_spec.json")
    priors = {c.channel: c.priors for c in spec.channels}
    tiktok = priors["tiktok"]
    # two tests of equal precision: mean 1.2, standard error 0.3 / sqrt(2); the experiment wins over roi_bounds
    assert tiktok.roi_source == "experiment" and tiktok.roi_experiments == [1, 2]
    assert (tiktok.roi_mu, tiktok.roi_sigma) == pytest.approx(lognormal_from_mean_sd(1.2, 0.3 / 2 ** 0.5))
    assert tiktok.roi_window == [["2023-03-06", "2023-03-27"], ["2023-09-04", "2023-09-25"]]
    assert tiktok.uncalibrated_roi is not None and tiktok.roi_bounds == [0.2, 4.0]
    assert all(p.roi_source == "roi_bounds" for name, p in priors.items() if name != "tiktok")
    assert [(e.row, e.channel, e.roi) for e in spec.experiments] == [(1, "tiktok", 1.5), (2, "tiktok", 0.9)]
    summary = json.loads((store.stage_dir("features") / "manifest.json").read_text())
    assert set(summary["inputs"]) == {"ingest", "transform"}  # features is keyed on ingest's experiments too
    # without experiments the same data keeps its roi_bounds prior
    plain = make_cfg()
    plain_store = ArtifactStore(plain.paths.artifacts + "_plain")
    for stage in ("ingest", "validate", "transform", "features"):
        run_stage(plain, stage, plain_store)
    plain_spec = FeatureSpec.read(plain_store.stage_dir("features") / "feature_spec.json")
    assert {c.channel: c.priors.roi_source for c in plain_spec.channels}["tiktok"] == "roi_bounds"
    assert plain_spec.experiments == []
