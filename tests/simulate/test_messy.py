"""Tests of the messy-data generator: each defect is applied as documented and logged exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_meridian.errors import ConfigError
from mmm_meridian.simulate import DEFECTS, SimulationSpec, make_messy, simulate
from mmm_meridian.simulate.messy import DEFAULT_OPTS

KEY = ["mmm_timeseries_id", "date_day"]
REVENUE = "all_purchases_original_price"


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return simulate(SimulationSpec(n_weeks=52, seed=11)).daily


def _rows(frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Rows of frame whose key is in keys, in frame order."""
    return frame.merge(keys[KEY].drop_duplicates(), on=KEY)


def _untouched_equal(result, keys: pd.DataFrame) -> None:
    """Every row outside keys is in the messy data exactly once and equal to the clean reference."""
    touched = pd.MultiIndex.from_frame(keys[KEY])
    data = result.data.set_index(KEY)
    clean = result.clean.set_index(KEY)
    data, clean = data[~data.index.isin(touched)], clean[~clean.index.isin(touched)]
    assert data.index.is_unique
    pd.testing.assert_frame_equal(data.astype(clean.dtypes), clean.loc[data.index], check_exact=True)
    assert len(data) == len(clean)


def test_invalid_arguments(clean):
    with pytest.raises(ConfigError, match="unknown defects"):
        make_messy(clean, ["typo"], seed=1)
    with pytest.raises(ConfigError, match="unknown options"):
        make_messy(clean, ["exact_duplicates"], seed=1, n_rowz=2)
    with pytest.raises(ConfigError, match="outage_kind"):
        make_messy(clean, ["outage_gap"], seed=1, outage_kind="clicks")


def test_reproducible(clean):
    a = make_messy(clean, DEFECTS, seed=5)
    b = make_messy(clean, DEFECTS, seed=5)
    c = make_messy(clean, DEFECTS, seed=6)
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    assert not a.log["exact_duplicates"].rows.equals(c.log["exact_duplicates"].rows)


def test_split_duplicates(clean):
    result = make_messy(clean, ["split_duplicates"], seed=1, n_rows=4)
    log = result.log["split_duplicates"]
    assert len(result.data) == len(clean) + 4 and len(log.rows) == 4
    assert "google_search_spend" in log.columns and "avg_price" not in log.columns
    parts = _rows(result.data, log.rows)
    assert len(parts) == 8
    additive = list(log.columns)
    summed = parts.groupby(KEY)[additive].sum()
    original = log.original.set_index(KEY)[additive]
    pd.testing.assert_frame_equal(summed.loc[original.index], original, check_exact=True)
    assert (parts.groupby(KEY)[REVENUE].min() > 0).all()  # both parts carry revenue
    firsts = parts.groupby(KEY)[["avg_price", "promo_flag", "currency_code"]].nunique()
    assert (firsts == 1).all().all()
    _untouched_equal(result, log.rows)


def test_exact_duplicates(clean):
    result = make_messy(clean, ["exact_duplicates"], seed=2)
    log = result.log["exact_duplicates"]
    assert len(result.data) == len(clean) + 3
    dup = result.data[result.data.duplicated(keep=False)]
    assert len(dup) == 6
    pd.testing.assert_frame_equal(dup.drop_duplicates().reset_index(drop=True), log.original, check_exact=True)
    _untouched_equal(result, log.rows)


def test_conflicting_duplicates(clean):
    result = make_messy(clean, ["conflicting_duplicates"], seed=3)
    log = result.log["conflicting_duplicates"]
    rows = _rows(result.data, log.rows)
    assert len(rows) == 6
    assert rows.duplicated(KEY, keep=False).all() and not rows.duplicated(keep=False).any()
    original = log.original.set_index(KEY)
    conflicting = log.details["conflicting_rows"].set_index(KEY)
    ratio = conflicting[REVENUE] / original[REVENUE]
    np.testing.assert_allclose(ratio, log.details["factors"], rtol=1e-5)
    for (key, row), channel in zip(conflicting.iterrows(), log.details["channels"], strict=True):
        assert row[f"{channel}_spend"] > original.loc[key, f"{channel}_spend"]
    _untouched_equal(result, log.rows)


def test_missing_weeks(clean):
    result = make_messy(clean, ["missing_weeks"], seed=4, n_missing_weeks=3)
    log = result.log["missing_weeks"]
    assert len(result.data) == len(clean) - 21 and len(log.rows) == 21
    assert (log.rows["mmm_timeseries_id"] == log.details["series"]).all()
    assert sorted(log.rows["date_day"].dt.dayofweek.value_counts().to_dict().items()) == [(d, 3) for d in range(7)]
    assert set(log.rows["date_day"] - pd.to_timedelta(log.rows["date_day"].dt.dayofweek, unit="D")) == \
        set(log.details["weeks"])
    assert _rows(result.data, log.rows).empty
    pd.testing.assert_frame_equal(log.original, _rows(clean, log.rows), check_exact=True)
    first, last = clean["date_day"].min(), clean["date_day"].max()
    assert log.rows["date_day"].min() > first and log.rows["date_day"].max() < last
    _untouched_equal(result, log.rows)


def test_paused_nan_uses_a_truly_dark_stretch(clean):
    result = make_messy(clean, ["paused_nan"], seed=5, paused_channel="google_video", paused_days=7)
    log = result.log["paused_nan"]
    assert log.details["channel"] == "google_video" and not log.details["zeroed_in_clean"]
    cols = ["google_video_spend", "google_video_impressions", "google_video_clicks"]
    assert log.columns == tuple(cols)
    rows = _rows(result.data, log.rows)
    assert len(rows) == 7 and rows[cols].isna().all().all()
    assert (log.rows["date_day"].diff().dropna() == pd.Timedelta("1D")).all()
    assert (_rows(clean, log.rows)[cols] == 0).all().all()
    pd.testing.assert_frame_equal(result.clean, clean.reset_index(drop=True), check_exact=True)
    assert result.data[cols].isna().sum().tolist() == [7, 7, 7]
    _untouched_equal(result, log.rows)


def test_paused_nan_zeroes_the_clean_reference_when_no_dark_stretch(clean):
    result = make_messy(clean, ["paused_nan"], seed=5, paused_channel="google_search", paused_days=60)
    log = result.log["paused_nan"]
    cols = list(log.columns)
    assert log.details["zeroed_in_clean"]
    assert (_rows(result.clean, log.rows)[cols] == 0).all().all()
    assert (log.original[cols].sum() > 0).all()  # the input had live spend there
    assert _rows(result.data, log.rows)[cols].isna().all().all()


def test_outage_gap(clean):
    result = make_messy(clean, ["outage_gap"], seed=6, outage_days=5)
    log = result.log["outage_gap"]
    gaps = {g["kind"]: g for g in log.details["gaps"]}
    assert set(gaps) == {"impressions", "spend"} and len(log.rows) == 10
    for kind, gap in gaps.items():
        keys = log.rows[(log.rows["mmm_timeseries_id"] == gap["series"])
                        & log.rows["date_day"].between(gap["start"], gap["end"])]
        assert len(keys) == 5
        rows, orig = _rows(result.data, keys), _rows(clean, keys)
        channel = gap["channel"]
        if kind == "impressions":
            assert rows[[f"{channel}_impressions", f"{channel}_clicks"]].isna().all().all()
            assert (rows[f"{channel}_spend"] == orig[f"{channel}_spend"]).all() and (rows[f"{channel}_spend"] > 0).all()
        else:
            assert rows[f"{channel}_spend"].isna().all()
            assert (rows[f"{channel}_impressions"] == orig[f"{channel}_impressions"]).all()
            assert (rows[f"{channel}_impressions"] > 0).all()
    assert result.data.isna().sum().sum() == 15
    _untouched_equal(result, log.rows)


@pytest.mark.parametrize(("defect", "promo"), [("revenue_spike_promo", 1), ("revenue_spike_non_promo", 0)])
def test_revenue_spikes(clean, defect, promo):
    result = make_messy(clean, [defect], seed=7, spike_days=4, spike_factor=6.0)
    log = result.log[defect]
    assert log.columns == (REVENUE,) and log.details["factor"] == 6.0
    rows, orig = _rows(result.data, log.rows), _rows(clean, log.rows)
    assert len(rows) == 4 and (rows["promo_flag"] == promo).all()
    np.testing.assert_array_equal(rows[REVENUE].to_numpy(), orig[REVENUE].to_numpy() * 6.0)
    np.testing.assert_array_equal(log.original[REVENUE].to_numpy(), orig[REVENUE].to_numpy())
    _untouched_equal(result, log.rows)


def test_correlated_pair(clean):
    result = make_messy(clean, ["correlated_pair"], seed=8)
    leader, follower = DEFAULT_OPTS["pair"]
    log = result.log["correlated_pair"]
    assert log.details == {"leader": leader, "follower": follower}
    assert len(log.rows) == len(clean)
    pd.testing.assert_frame_equal(log.original, clean.reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(result.data, result.clean, check_exact=True)
    week = clean["date_day"].dt.to_period("W-SUN")
    for data, low, high in ((clean, -0.6, 0.6), (result.clean, 0.95, 1.0)):
        weekly = data.groupby([data["mmm_timeseries_id"], week])[[f"{leader}_spend", f"{follower}_spend"]].sum()
        for _, group in weekly.groupby(level=0):
            assert low < group.corr().iloc[0, 1] < high
    assert result.clean[[f"{leader}_spend", f"{follower}_spend"]].corr().iloc[0, 1] > 0.9  # daily, noisier
    # The follower keeps its scale and its own CPM.
    new, old = result.clean, clean
    assert new[f"{follower}_spend"].sum() == pytest.approx(old[f"{follower}_spend"].sum(), rel=0.1)
    assert new[f"{follower}_impressions"].sum() / new[f"{follower}_spend"].sum() == pytest.approx(
        old[f"{follower}_impressions"].sum() / old[f"{follower}_spend"].sum(), rel=0.02)
    untouched = [c for c in clean.columns if not c.startswith(follower)]
    pd.testing.assert_frame_equal(result.clean[untouched], clean[untouched].reset_index(drop=True), check_exact=True)


def test_all_defects_together_touch_disjoint_rows(clean):
    result = make_messy(clean, DEFECTS, seed=9)
    assert set(result.log) == set(DEFECTS)
    keys = pd.concat([log.rows for name, log in result.log.items() if name != "correlated_pair"])
    assert not keys.duplicated().any()
    expected_len = len(clean) + 3 * 3 - 2 * 7  # three duplicate defects add 3 rows each, two weeks removed
    assert len(result.data) == expected_len
    _untouched_equal(result, keys)
