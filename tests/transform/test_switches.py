"""Cleaning switches set by their dotted config names change what the transform stage does to the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.ingest.standardize import standardize
from mmm_meridian.transform.cleaning_log import CleaningLog
from mmm_meridian.transform.duplicates import resolve_duplicates
from mmm_meridian.transform.missing import impute_missing
from mmm_meridian.transform.outliers import cap_outliers, cap_ratio
from tests.transform.messy_data import rows_of


@pytest.fixture(scope="module")
def deduped_std(messy, demo_cfg):
    return resolve_duplicates(standardize(messy.data, demo_cfg), demo_cfg, CleaningLog())


def test_iqr_multiplier_sets_the_cap_and_what_is_capped(make_cfg, deduped_std):
    loose = make_cfg("enhanced_cleaning.outliers.policy=iqr", "enhanced_cleaning.outliers.iqr_multiplier=3.0")
    tight = make_cfg("enhanced_cleaning.outliers.policy=iqr", "enhanced_cleaning.outliers.iqr_multiplier=1.5")
    # Ratios 1..20: Q1 = 5.75, Q3 = 15.25, IQR = 9.5 -> the cap is Q3 + multiplier x IQR.
    ratios = np.arange(1.0, 21.0)
    assert cap_ratio(ratios, loose) == pytest.approx(15.25 + 3.0 * 9.5)
    assert cap_ratio(ratios, tight) == pytest.approx(15.25 + 1.5 * 9.5)

    imputed, _ = impute_missing(deduped_std, loose, "daily", CleaningLog())
    logs = {}
    outs = {}
    for name, cfg in (("loose", loose), ("tight", tight)):
        logs[name] = CleaningLog()
        outs[name] = cap_outliers(imputed, cfg, "daily", logs[name])
    capped = {name: [c for c in log.changes if c.rule == "outliers.iqr"] for name, log in logs.items()}
    assert capped["loose"] and capped["tight"]
    caps = {name: {round(c.extra["cap_ratio"], 6) for c in changes} for name, changes in capped.items()}
    assert max(caps["tight"]) < min(caps["loose"])  # a lower multiplier gives a lower cap ...
    rows = {name: sum(c.rows for c in changes) for name, changes in capped.items()}
    assert rows["tight"] > rows["loose"]  # ... and more capped values
    assert outs["tight"][F.REVENUE].sum() < outs["loose"][F.REVENUE].sum()


def test_outage_detection_rebuilds_gaps_or_zero_fills_them(make_cfg, messy, deduped_std, demo_cfg):
    on = make_cfg("enhanced_cleaning.missing_data.outage_detection=true")
    off = make_cfg("enhanced_cleaning.missing_data.outage_detection=false")
    clean = standardize(messy.clean, demo_cfg)
    results = {}
    for name, cfg in (("on", on), ("off", off)):
        log = CleaningLog()
        out, _ = impute_missing(deduped_std, cfg, "daily", log)
        results[name] = (out, {c.rule for c in log.changes})
    assert "missing.outage_interpolate" in results["on"][1] and "missing.zero_fill" not in results["on"][1]
    assert "missing.zero_fill" in results["off"][1] and "missing.outage_interpolate" not in results["off"][1]
    gaps = messy.log["outage_gap"].details["gaps"]
    assert gaps
    for gap in gaps:
        keys = pd.DataFrame({"date_day": pd.date_range(gap["start"], gap["end"])})
        for col in gap["columns"]:
            truth = rows_of(clean, keys)[col].to_numpy()
            assert truth.sum() > 0
            rebuilt = rows_of(results["on"][0], keys)[col].to_numpy()
            np.testing.assert_allclose(rebuilt, truth, rtol=0.15)  # rebuilt from the partner column
            zeroed = rows_of(results["off"][0], keys)[col].to_numpy()
            assert (zeroed == 0).all()  # taken as "not used"
