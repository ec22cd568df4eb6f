"""Weeks whose KPI is a placeholder for a long gap (kpi_long_gaps=exclude) travel from the cleaning log through
feature_spec.json to Meridian's holdout, and evaluate does not score them as a forecast."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.errors import DataError
from mmm_meridian.feature_spec import FeatureSpec
from mmm_meridian.features.stage import build_features
from mmm_meridian.pipeline import run_stage
from mmm_meridian.simulate import load_demo
from tests.features.helpers import clean_table, commit_transform


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def _iso(weeks) -> list[str]:
    return [pd.Timestamp(w).strftime("%Y-%m-%d") for w in weeks]


def test_the_cleaning_log_s_excluded_weeks_reach_the_feature_spec(make_cfg, demo):
    cfg = make_cfg()
    clean = clean_table(demo, territories=["GB"])
    gap = _iso(sorted(clean[cols.TIME].unique())[10:41])  # 31 weeks
    store = ArtifactStore(cfg.paths.artifacts)
    commit_transform(cfg, store, clean, {"changes": [], "kpi_excluded_weeks": {cols.NATIONAL: gap}})
    run_stage(cfg, "features", store)
    raw = json.loads((store.stage_dir("features") / "feature_spec.json").read_text())
    assert raw["excluded_weeks"] == {cols.NATIONAL: gap}
    assert FeatureSpec.from_dict(raw).excluded_weeks == {cols.NATIONAL: gap}
    inputs = pd.read_parquet(store.stage_dir("features") / "model_inputs.parquet")
    assert np.isfinite(inputs[cols.REVENUE]).all() and len(inputs) == 156  # Meridian still gets numbers there
    _, plain = build_features(clean, cfg)  # a log without excluded weeks: nothing held out
    assert plain.excluded_weeks == {}


def test_excluded_weeks_are_checked(make_cfg, demo):
    cfg = make_cfg()
    clean = clean_table(demo, territories=["GB"])
    with pytest.raises(DataError, match="not in the clean table"):
        build_features(clean, cfg, {cols.NATIONAL: ["2030-01-07"]})
    with pytest.raises(DataError, match="not in the clean table"):
        build_features(clean, cfg, {"GB": _iso(clean[cols.TIME][:3])})
    weeks = _iso(sorted(clean[cols.TIME].unique()))
    with pytest.raises(DataError, match="leaving 51 weeks to fit, fewer than the 52"):
        build_features(clean, cfg, {cols.NATIONAL: weeks[:105]})  # 156 - 105 = 51


def test_excluded_weeks_are_held_out_of_the_likelihood_but_not_scored(make_cfg, demo):
    from mmm_meridian.models.meridian import adapter
    from mmm_meridian.models.meridian import evaluation as me

    cfg = make_cfg("data=demo_geo")
    clean = clean_table(demo, territories=["GB", "US"])
    weeks = _iso(sorted(clean[cols.TIME].unique()))
    inputs, spec = build_features(clean, cfg, {"GB": weeks[10:41]})
    mmm = adapter.build_model(inputs, spec, holdout_weeks=4)
    held = np.asarray(mmm.model_context.compiled_holdout_id, dtype=bool)  # what Meridian leaves out of the fit
    assert held.shape == (2, 156)
    assert held[0, 10:41].all() and held[0, -4:].all() and held[0].sum() == 35  # GB: the gap and the last 4 weeks
    assert held[1, -4:].all() and held[1].sum() == 4  # US: only the last 4 weeks
    forecast = me.holdout_mask(mmm)
    assert forecast.sum() == 8 and forecast[:, -4:].all()  # the gap is not a forecast to score
    # evaluate's geo holdout keeps the gap out of its refit too, and scores only its own weeks
    geo = me.with_geo_holdout(adapter.build_model(inputs, spec), ["US"], weeks[-8])
    held = np.asarray(geo.model_context.compiled_holdout_id, dtype=bool)
    assert held[0].sum() == 31 and held[0, 10:41].all() and held[1].sum() == 8
    assert me.holdout_mask(geo).sum() == 8 and me.holdout_mask(geo)[1, -8:].all()
    # a rolling window that cuts the gap keeps the part inside it
    window = inputs[pd.to_datetime(inputs[cols.TIME]) >= pd.Timestamp(weeks[30])].reset_index(drop=True)
    cut = adapter.build_model(window, spec)
    held = np.asarray(cut.model_context.compiled_holdout_id, dtype=bool)
    assert held[0].sum() == 11 and held[0, :11].all() and held[1].sum() == 0


def test_a_national_gap_is_a_global_range(make_cfg, demo):
    from mmm_meridian.models.meridian import adapter
    from mmm_meridian.models.meridian import evaluation as me

    cfg = make_cfg()
    clean = clean_table(demo, territories=["GB"])
    weeks = _iso(sorted(clean[cols.TIME].unique()))
    inputs, spec = build_features(clean, cfg, {cols.NATIONAL: weeks[10:41] + weeks[-2:]})
    mmm = adapter.build_model(inputs, spec, holdout_weeks=4)
    held = np.asarray(mmm.model_context.compiled_holdout_id, dtype=bool).reshape(-1)
    assert held.sum() == 35 and held[10:41].all() and held[-4:].all()
    forecast = me.holdout_mask(mmm).reshape(-1)
    assert forecast.sum() == 2 and forecast[-4:-2].all()  # the last two weeks have no real KPI to score
