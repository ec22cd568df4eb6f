"""Each series gets its own country's holiday calendar: derived from its territory, or configured, or a logged
fallback; recorded per geo in feature_spec.json."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from mmm_meridian import frame as cols
from mmm_meridian.config.modeling import HolidaysConfig
from mmm_meridian.errors import ConfigError
from mmm_meridian.features.seasonality import country_code, resolve_calendars
from mmm_meridian.features.stage import build_features
from mmm_meridian.simulate import load_demo
from tests.features.helpers import clean_table


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def _week(day: str) -> pd.Timestamp:
    """The Monday starting the week of ``day`` (the demo's weeks start on Mondays)."""
    stamp = pd.Timestamp(day)
    return stamp - pd.Timedelta(days=stamp.dayofweek)


def _holiday_days(inputs: pd.DataFrame, geo: str, day: str) -> float:
    row = inputs[(inputs[cols.GEO] == geo) & (inputs[cols.TIME] == _week(day))]
    assert len(row) == 1, (geo, day)
    return float(row["holiday_days"].iloc[0])


def test_the_demo_gb_series_gets_the_gb_calendar(make_cfg, demo):
    cfg = make_cfg()  # data=demo: brand_a filtered to territory_name GB, a national model
    inputs, spec = build_features(clean_table(demo, territories=["GB"]), cfg)
    assert spec.holiday_calendars == {cols.NATIONAL: {"country": "GB", "subdivision": None,
                                                       "source": "data.series.territory_name=GB"}}
    dates = spec.seasonality_terms["holiday_days"]["dates"]
    assert spec.seasonality_terms["holiday_days"]["country"] == "GB"
    assert "2023-05-29 Spring Bank Holiday" in dates and "2023-12-26 Boxing Day" in dates
    assert not [d for d in dates if "Thanksgiving" in d or "Independence" in d]
    assert _holiday_days(inputs, cols.NATIONAL, "2023-05-29") == 1  # Spring bank holiday (Monday)
    assert _holiday_days(inputs, cols.NATIONAL, "2023-11-23") == 0  # US Thanksgiving: an ordinary week in GB
    assert _holiday_days(inputs, cols.NATIONAL, "2023-07-04") == 0


def test_geo_model_gives_each_territory_its_calendar(make_cfg, demo):
    cfg = make_cfg("data=demo_geo", "features.seasonality.holidays.separate=[Thanksgiving,Boxing]")
    inputs, spec = build_features(clean_table(demo, territories=["GB", "US"]), cfg)
    assert {g: c["country"] for g, c in spec.holiday_calendars.items()} == {"GB": "GB", "US": "US"}
    assert spec.holiday_calendars["US"]["source"] == "data.geo_col territory_name=US"
    assert _holiday_days(inputs, "US", "2023-11-23") == 1 and _holiday_days(inputs, "GB", "2023-11-23") == 0
    assert _holiday_days(inputs, "GB", "2023-05-29") == 1  # GB Spring bank holiday
    assert _holiday_days(inputs, "US", "2023-05-29") == 1  # US Memorial Day, the same Monday
    assert _holiday_days(inputs, "US", "2023-08-28") == 0 and _holiday_days(inputs, "GB", "2023-08-28") == 0
    thanksgiving = inputs.pivot(index=cols.TIME, columns=cols.GEO, values="holiday_thanksgiving")
    assert thanksgiving["GB"].sum() == 0 and thanksgiving["US"].sum() == 3  # 2022, 2023, 2024
    boxing = inputs.pivot(index=cols.TIME, columns=cols.GEO, values="holiday_boxing")
    assert boxing["US"].sum() == 0 and boxing["GB"].sum() == 3
    term = spec.seasonality_terms["holiday_days"]
    assert term["kind"] == "holiday" and term["calendars"] == {"GB": "GB", "US": "US"}
    assert any("Thanksgiving" in d for d in term["dates"]["US"]) and not any("Thanksgiving" in d
                                                                               for d in term["dates"]["GB"])
    # Meridian's inputs stay one finite value per (geo, week) for every control.
    assert not inputs[[c.name for c in spec.controls]].isna().any().any()
    assert len(inputs) == 2 * spec.n_weeks


def test_configured_country_single_code_or_per_geo_mapping(make_cfg, demo):
    clean = clean_table(demo, territories=["GB", "US"])
    _, single = build_features(clean, make_cfg("data=demo_geo", "features.seasonality.holidays.country=DE"))
    assert {g: (c["country"], c["source"]) for g, c in single.holiday_calendars.items()} == {
        "GB": ("DE", "features.seasonality.holidays.country"), "US": ("DE", "features.seasonality.holidays.country")}
    _, mapped = build_features(clean, make_cfg("data=demo_geo", "features.seasonality.holidays.country={GB: IE}"))
    assert mapped.holiday_calendars["GB"] == {"country": "IE", "subdivision": None,
                                              "source": "features.seasonality.holidays.country.GB"}
    assert mapped.holiday_calendars["US"]["country"] == "US"  # not mapped: derived from its territory
    with pytest.raises(ConfigError, match="not in the data"):
        build_features(clean, make_cfg("data=demo_geo", "features.seasonality.holidays.country={FR: FR}"))
    with pytest.raises(ConfigError, match="does not know country 'Atlantis'"):
        build_features(clean, make_cfg("data=demo_geo", "features.seasonality.holidays.country=Atlantis"))


def test_a_series_without_a_country_gets_the_logged_fallback(make_cfg, demo, caplog):
    cfg = make_cfg("data.series.territory_name=null")  # nothing says which country the series is in
    with caplog.at_level(logging.WARNING, logger="mmm_meridian.features.seasonality"):
        _, spec = build_features(clean_table(demo, territories=["GB"]), cfg)
    assert spec.holiday_calendars[cols.NATIONAL]["country"] == "US"
    assert spec.holiday_calendars[cols.NATIONAL]["source"].startswith("fallback_country")
    assert any("no country found for geo national" in r.getMessage() and "US calendar" in r.getMessage()
               for r in caplog.records)
    strict = make_cfg("data.series.territory_name=null", "features.seasonality.holidays.fallback_country=null")
    with pytest.raises(ConfigError, match="no holiday calendar for geo 'national'"):
        build_features(clean_table(demo, territories=["GB"]), strict)


def test_territory_spellings_map_to_iso_codes(make_cfg):
    assert [country_code(v) for v in ("GB", "gbr", "UK", "United Kingdom", "united_states", "DE")] == [
        "GB", "GB", "GB", "GB", "US", "DE"]
    assert country_code("All Territories") is None and country_code(None) is None
    data = make_cfg("data=demo_geo").data
    calendars = resolve_calendars(["UK", "Narnia"], HolidaysConfig(fallback_country="FR"), data)
    assert calendars["UK"]["country"] == "GB"
    assert calendars["Narnia"] == {"country": "FR", "subdivision": None,
                                   "source": "fallback_country (no territory or country found for this series)"}


def test_country_config_is_checked_at_start_up(make_cfg):
    with pytest.raises(ConfigError, match="non-codes"):
        make_cfg("features.seasonality.holidays.country={GB: ''}")
