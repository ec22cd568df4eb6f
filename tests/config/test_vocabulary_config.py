"""Meridian's media vocabulary in the config (``data.reach_map`` / ``frequency_map`` / ``organic_map`` /
``non_media_treatments`` / ``kpi_type`` / ``revenue_per_kpi_col``): contradictions are refused at start-up, and so is
every Meridian-only setting under the PyMC engine (main engine or second opinion), naming the engine that has it."""

from __future__ import annotations

import pytest

from mmm_meridian.cli import main
from mmm_meridian.errors import ConfigError

RF = ("++data.reach_map.tiktok=tiktok_reach", "++data.frequency_map.tiktok=tiktok_frequency")


def test_a_reach_and_frequency_channel_loads_with_both_columns(make_cfg):
    cfg = make_cfg(*RF)
    assert cfg.data.reach_map == {"tiktok": "tiktok_reach"} and cfg.data.frequency_map == {"tiktok": "tiktok_frequency"}


@pytest.mark.parametrize(("overrides", "message"), [
    (RF[:1], "reach-and-frequency channel(s) ['tiktok'] need both data.reach_map and data.frequency_map"),
    (("++data.reach_map.radio=radio_reach", "++data.frequency_map.radio=radio_frequency"),
     "data.reach_map names channel(s) ['radio'] missing from data.channel_map"),
    (("++data.organic_map.avg_price=avg_price",), "['avg_price'] named as both organic media and control"),
    (("data.non_media_treatments=[avg_price]",), "['avg_price'] named as both non-media treatment and control"),
    (("data.kpi_type=conversions",), "data.kpi_type=conversions needs data.revenue_per_kpi_col"),
])
def test_contradictory_vocabulary_is_refused_naming_the_keys(make_cfg, overrides, message):
    with pytest.raises(ConfigError) as info:
        make_cfg(*overrides)
    assert message in info.value.one_line()


def test_a_conversions_kpi_with_its_value_per_conversion_loads(make_cfg):
    cfg = make_cfg("data.kpi_type=conversions", "data.revenue_per_kpi_col=value_per_order")
    assert cfg.data.kpi_type.value == "conversions" and cfg.data.revenue_per_kpi_col == "value_per_order"


@pytest.mark.parametrize(("overrides", "feature"), [
    (RF, "data.reach_map (reach and frequency channels)"),
    (("++data.organic_map.newsletter=newsletter_sends",), "data.organic_map (organic media)"),
    (("data.non_media_treatments=[promo_flag]",), "data.non_media_treatments"),
    (("data.kpi_type=conversions", "data.revenue_per_kpi_col=value"), "data.kpi_type=conversions"),
])
@pytest.mark.parametrize("engine_key", ["model.backend=pymc", "model.second_opinion=pymc"])
def test_the_pymc_engine_refuses_meridian_only_vocabulary_naming_the_engine_that_has_it(make_cfg, overrides, feature,
                                                                                         engine_key):
    assert make_cfg(*overrides)  # the Meridian engine takes it
    with pytest.raises(ConfigError) as info:
        make_cfg(*overrides, engine_key)
    line = info.value.one_line()
    assert f"{feature} is supported by the Meridian engine only, not by the PyMC engine ({engine_key})" in line


def test_the_command_line_refuses_pymc_with_organic_media_before_any_work(tmp_path, capsys):
    assert main(["ingest", f"paths.root={tmp_path}", "tracking.enabled=false", "model.backend=pymc",
                 "++data.organic_map.newsletter=newsletter_sends"]) == 2
    err = capsys.readouterr().err
    assert "data.organic_map (organic media) is supported by the Meridian engine only" in err
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize(("value", "expected"), [
    ("examples/conf/data/meridian_experiments.csv", "examples/conf/data/meridian_experiments.csv"),
    ("[{channel: tiktok, start: 2024-03-04, end: 2024-03-31, roi: 2.1, roi_se: 0.4}]",
     [{"channel": "tiktok", "start": "2024-03-04", "end": "2024-03-31", "roi": 2.1, "roi_se": 0.4}]),
])
def test_calibration_experiments_take_a_path_or_an_inline_list(make_cfg, value, expected):
    cfg = make_cfg(f"calibration.experiments={value}")
    assert cfg.calibration.experiments == expected


@pytest.mark.parametrize("value", ["''", "[1, 2]", "42"])
def test_calibration_experiments_of_another_shape_are_refused(make_cfg, value):
    with pytest.raises(ConfigError, match="calibration.experiments=.* is neither a CSV path nor a list of experiments"):
        make_cfg(f"calibration.experiments={value}")
