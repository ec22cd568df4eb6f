"""The features stage through the pipeline runner: model inputs and feature_spec.json contents."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import FeatureSpec, media_column
from mmm_meridian.features.stage import build_features
from mmm_meridian.pipeline import run_stage
from mmm_meridian.simulate import load_demo
from tests.features.helpers import clean_table, commit_transform


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def test_features_stage_writes_spec_with_priors_and_sources(make_cfg, demo):
    cfg = make_cfg("++features.adstock.platform_overrides.google_search.decay=0.3",
                   "++model.priors.roi_bounds.meta_facebook=[0.5,5.0]", "features.seasonality.holidays.country=GB",
                   "~model.priors.roi_bounds.tiktok")  # tiktok keeps the default ROI prior
    store = ArtifactStore(cfg.paths.artifacts)
    commit_transform(cfg, store, clean_table(demo, territories=["GB"]))
    run_stage(cfg, "features", store)
    folder = store.stage_dir("features")
    raw = json.loads((folder / "feature_spec.json").read_text())
    spec = FeatureSpec.from_dict(raw)
    assert raw["model"] == "national" and spec.geos == [cols.NATIONAL] and spec.n_weeks == 156
    by_channel = {c.channel: c for c in spec.channels}
    assert set(by_channel) == set(cfg.channels)
    assert all(c.media_source == "impressions" for c in spec.channels)
    assert by_channel["google_search"].priors.decay_source == "override"
    assert by_channel["google_search"].priors.decay == 0.3
    assert by_channel["meta_facebook"].priors.roi_source == "roi_bounds"
    assert by_channel["tiktok"].priors.roi_source == "default" and by_channel["tiktok"].priors.k_source == "default"
    kinds = {c.name: c.kind for c in spec.controls}
    assert kinds["avg_price"] == "data_control" and kinds["promo"] == "promo"
    assert kinds["annual_sin_1"] == "annual_fourier" and kinds["holiday_days"] == "holiday"
    assert spec.knots == 7 and "trend" in raw["seasonality_terms"]
    inputs = pd.read_parquet(folder / "model_inputs.parquet")
    assert len(inputs) == 156 and (inputs[cols.POPULATION] == 1.0).all()
    assert inputs[media_column("tiktok")].sum() == pytest.approx(demo.weekly.query(
        "mmm_timeseries_id == 'brand_a_GB'")["tiktok_impressions"].sum())


def test_trend_off_is_recorded_in_the_feature_spec_and_the_log(make_cfg, demo, caplog):
    clean = clean_table(demo, territories=["GB"])
    _, with_trend = build_features(clean, make_cfg())
    caplog.set_level("INFO", logger="mmm_meridian")
    inputs, spec = build_features(clean, make_cfg("features.baseline.trend=false"))
    assert with_trend.knots == 7 and with_trend.trend["enabled"] is True
    assert spec.knots == 1 and spec.trend["enabled"] is False
    assert "features.baseline.trend=false" in spec.knots_reason
    raw = spec.to_dict()
    assert raw["knots"] == 1 and raw["trend"] == spec.trend and "trend" not in raw["seasonality_terms"]
    assert FeatureSpec.from_dict(json.loads(json.dumps(raw))).trend == spec.trend
    assert "trend" not in inputs.columns
    assert spec.control_names == with_trend.control_names  # the seasonality controls stay
    assert any("baseline trend: none" in r.getMessage() for r in caplog.records)
    assert any("knots: features.baseline.trend=false" in r.getMessage() for r in caplog.records)


def test_weekly_seasonality_true_stops_the_config(make_cfg):
    from mmm_meridian.errors import ConfigError

    with pytest.raises(ConfigError, match="features.seasonality.weekly=true"):
        make_cfg("features.seasonality.weekly=true")


def test_geo_model_population_proxy_and_knots(make_cfg, demo):
    cfg = make_cfg("data=demo_geo", "features.seasonality.knot_every_weeks=null", "model.media_source=spend")
    inputs, spec = build_features(clean_table(demo, territories=["GB", "US"]), cfg)
    assert spec.is_geo and spec.geos == ["GB", "US"]
    assert spec.knots == 21 and "collinear" in spec.knots_reason  # one knot every 8 weeks, chosen for the user
    assert all(c.media_source == "spend" for c in spec.channels)
    population = inputs.groupby(cols.GEO)[cols.POPULATION].first()
    assert population.max() == 1.0 and 0 < population.min() < 1.0
    assert "revenue" in spec.population_source


def test_missing_spend_column_is_a_data_error(make_cfg, demo):
    cfg = make_cfg()
    clean = clean_table(demo, territories=["GB"]).drop(columns=[cols.spend("tiktok")])
    with pytest.raises(DataError, match="tiktok_spend"):
        build_features(clean, cfg)


def test_channel_without_spend_is_a_data_error(make_cfg, demo):
    cfg = make_cfg()
    clean = clean_table(demo, territories=["GB"]).assign(tiktok_spend=0.0)
    with pytest.raises(DataError, match="tiktok has no spend"):
        build_features(clean, cfg)
