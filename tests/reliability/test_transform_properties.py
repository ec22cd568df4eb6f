"""Property-based tests (hypothesis) of transform's cleaning rules.

Winsorization only ever lowers a value, to exactly its cap (never further inward), leaves promotion weeks alone when
they are exempt, and leaves nothing above the cap; imputation never changes an observed value and never invents a
negative one.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmm_meridian import frame as F
from mmm_meridian.config import load_config
from mmm_meridian.config.quality import ImputationStrategy, KpiLongGapPolicy, KpiMissingPolicy, OutlierPolicy
from mmm_meridian.config.root import MMMConfig
from mmm_meridian.tables.promo import promo_mask
from mmm_meridian.transform.cleaning_log import CleaningLog
from mmm_meridian.transform.missing import INSERTED, impute_missing
from mmm_meridian.transform.outliers import cap_outliers, local_level

CHANNELS = ("search", "social")
MEDIA = [f(c) for c in CHANNELS for f in (F.spend, F.impressions, F.clicks)]
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=1)
def _demo_config() -> MMMConfig:
    return load_config([])


def _config() -> MMMConfig:
    """The demo config reduced to two channels with impressions and clicks, no controls."""
    cfg = copy.deepcopy(_demo_config())
    d = cfg.data
    d.channel_map = {c: f"{c}_spend" for c in CHANNELS}
    d.impressions_map = {c: f"{c}_impressions" for c in CHANNELS}
    d.clicks_map = {c: f"{c}_clicks" for c in CHANNELS}
    d.platform_reported_map, d.controls = {}, []
    return cfg


@st.composite
def daily_series(draw: st.DrawFn, *, with_gaps: bool) -> pd.DataFrame:
    """1-2 geos of 25-70 days: positive amounts with spikes, promo days, and (optionally) NaNs and absent days."""
    frames = []
    for g in range(draw(st.integers(1, 2))):
        days = draw(st.integers(25, 70))

        def n(lo: float, hi: float, days: int = days) -> np.ndarray:
            return np.array(draw(st.lists(st.floats(lo, hi), min_size=days, max_size=days)))

        frame = pd.DataFrame({F.TIME: pd.date_range("2023-01-02", periods=days, freq="D"), F.GEO: f"g{g}",
                              F.REVENUE: n(100, 1000) * n(1, 8) ** 2,
                              F.PROMO: draw(st.lists(st.sampled_from([0, 0, 0, 1]), min_size=days, max_size=days))})
        for channel in CHANNELS:
            frame[F.spend(channel)] = n(0, 5000)
            frame[F.impressions(channel)] = np.round(n(0, 100) * frame[F.spend(channel)])
            frame[F.clicks(channel)] = np.round(frame[F.impressions(channel)] / 50)
        if with_gaps:
            for column in [F.REVENUE, *MEDIA]:
                holes = draw(st.lists(st.integers(1, days - 2), max_size=days // 3))
                frame.loc[holes, column] = np.nan
            absent = draw(st.lists(st.integers(1, days - 2), max_size=4, unique=True))
            frame = frame.drop(index=absent)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@PROPERTY_SETTINGS
@given(daily_series(with_gaps=False), st.sampled_from(list(OutlierPolicy)), st.floats(80, 99.5), st.booleans())
def test_winsorization_caps_at_the_cap_and_spares_exempt_weeks(std: pd.DataFrame, policy: OutlierPolicy,
                                                               percentile: float, exempt_promo: bool) -> None:
    cfg = _config()
    oc = cfg.enhanced_cleaning.outliers
    oc.policy, oc.winsorize_percentile, oc.exempt_promo_periods = policy, percentile, exempt_promo
    oc.targets, oc.min_context_rows = ["revenue", "spend"], 5
    log = CleaningLog()
    before = std.sort_values([F.GEO, F.TIME], kind="stable").reset_index(drop=True)
    after = cap_outliers(before.copy(), cfg, "daily", log)
    columns = [F.REVENUE, *(F.spend(c) for c in CHANNELS)]
    exempt = promo_mask(before, cfg, "daily") if exempt_promo else np.zeros(len(before), dtype=bool)

    assert (after[columns].to_numpy() <= before[columns].to_numpy()).all()  # only the upper tail moves
    if exempt_promo:
        pd.testing.assert_frame_equal(after[exempt], before[exempt])
    caps = {(c.series, c.column): c.extra["cap_ratio"] for c in log.changes if c.rule.startswith("outliers.")}
    if policy == OutlierPolicy.none:
        assert not caps and after.equals(before)
    for (geo, column), cap in caps.items():
        rows = np.flatnonzero(before[F.GEO].to_numpy() == geo)
        level = local_level(before.loc[rows, column], exempt[rows], "daily").to_numpy()
        old, new = before.loc[rows, column].to_numpy(), after.loc[rows, column].to_numpy()
        moved = new < old
        # A capped value lands on the cap, not below it, and nothing judged is left above it.
        np.testing.assert_allclose(new[moved] / level[moved], cap, rtol=1e-5)
        judged = ~exempt[rows] & (level >= np.finfo(np.float64).tiny)  # a subnormal level is no level
        assert (new[judged] / level[judged] <= cap * (1 + 1e-5)).all()


@PROPERTY_SETTINGS
@given(daily_series(with_gaps=True), st.sampled_from(list(ImputationStrategy)), st.booleans(), st.booleans(),
       st.sampled_from([KpiMissingPolicy.impute, KpiMissingPolicy.drop]), st.integers(0, 10),
       st.sampled_from([KpiLongGapPolicy.exclude, KpiLongGapPolicy.interpolate]))
def test_imputation_never_changes_observed_values(std: pd.DataFrame, strategy: ImputationStrategy, pauses: bool,
                                                  outages: bool, kpi_policy: KpiMissingPolicy, max_gap: int,
                                                  long_gaps: KpiLongGapPolicy) -> None:
    cfg = _config()
    md = cfg.enhanced_cleaning.missing_data
    md.strategy, md.pause_detection, md.outage_detection = strategy, pauses, outages
    md.kpi_policy, md.max_gap_days, md.kpi_long_gaps = kpi_policy, max_gap, long_gaps  # long KPI gaps need a choice
    filled, _ = impute_missing(std.copy(), cfg, "daily", CleaningLog())

    assert not filled.duplicated([F.GEO, F.TIME]).any()
    spans = std.groupby(F.GEO)[F.TIME].agg(["min", "max"])
    assert (filled.groupby(F.GEO).size() == ((spans["max"] - spans["min"]).dt.days + 1)).all()  # full daily grid
    merged = std.merge(filled, on=[F.GEO, F.TIME], suffixes=("", "_out"), validate="one_to_one")
    assert not merged[f"{INSERTED}"].any()
    for column in [F.REVENUE, *MEDIA]:
        observed = merged[column].notna()
        np.testing.assert_array_equal(merged.loc[observed, f"{column}_out"], merged.loc[observed, column])
        imputed = filled[column].dropna()
        assert (imputed >= 0).all(), f"{column}: a negative value was invented"
