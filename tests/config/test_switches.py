"""The guide's privacy features (``privacy.*``) and external data sources (``external_data.*``) are future extensions:
off they load, on they are refused by name."""

from __future__ import annotations

import pytest

from mmm_meridian.cli import main
from mmm_meridian.errors import NotImplementedFeatureError

PRIVACY_KEYS = ("privacy.differential_privacy", "privacy.gdpr_compliance", "privacy.ios_att_modeling")
EXTERNAL_DATA_KEYS = ("external_data.competitor_intelligence", "external_data.economic_indicators",
                      "external_data.market_research")


@pytest.mark.parametrize("key", PRIVACY_KEYS + EXTERNAL_DATA_KEYS)
def test_future_feature_off_loads_and_on_is_refused_naming_the_key(make_cfg, key):
    section, name = key.split(".")
    assert getattr(getattr(make_cfg(f"{key}=false"), section), name) is False
    with pytest.raises(NotImplementedFeatureError) as info:
        make_cfg(f"{key}=true")
    assert info.value.one_line().startswith(f"error: {key} is a future extension of the guide and is not implemented yet")
    assert info.value.fix == f"set {key}=false"


def test_the_command_line_refuses_an_enabled_privacy_feature_before_any_work(tmp_path, capsys):
    assert main(["ingest", f"paths.root={tmp_path}", "tracking.enabled=false", "privacy.gdpr_compliance=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ingest: privacy.gdpr_compliance is a future extension of the guide")
    assert "fix: set privacy.gdpr_compliance=false" in err
    assert not (tmp_path / "artifacts").exists()  # nothing was ingested


def test_the_command_line_refuses_an_enabled_external_data_source_before_any_work(tmp_path, capsys):
    assert main(["ingest", f"paths.root={tmp_path}", "tracking.enabled=false",
                 "external_data.economic_indicators=true"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ingest: external_data.economic_indicators is a future extension of the guide")
    assert "fix: set external_data.economic_indicators=false" in err
    assert not (tmp_path / "artifacts").exists()
