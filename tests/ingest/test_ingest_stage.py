"""INGEST: connectors in priority order with fallback, column mapping, key selection, weekly aggregation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.api import run_stage
from mmm_meridian.errors import ConnectorError, DataError
from mmm_meridian.ingest.stage import ingest
from mmm_meridian.ingest.standardize import standardize
from mmm_meridian.simulate import load_demo
from mmm_meridian.tables.weekly import to_weekly
from tests.ingest import fake_figshare as _fake

fake_figshare = _fake.fake_figshare
CHANNELS = ["google_search", "google_display", "google_video", "meta_facebook", "meta_instagram", "tiktok"]


def _own_dataset(make_cfg, tmp_path, path, data_yaml: str, *extra):
    """A user's dataset file (conf dir data/mine.yaml) reading ``path`` with the local_csv connector."""
    conf = tmp_path / "conf" / "data"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "mine.yaml").write_text("# @package _global_\ningest:\n  connector_priority: [local_csv]\n"
                                    f"  local_csv:\n    path: {path}\ndata:\n{data_yaml}")
    return make_cfg("data=mine", *extra, config_dir=tmp_path / "conf")


def _csv_config(make_cfg, path, *extra):
    return make_cfg("ingest.connector_priority=[local_csv]", f"ingest.local_csv.path={path}", *extra)


def test_demo_daily_rows_aggregate_to_exact_weekly_totals(make_cfg):
    cfg = make_cfg()
    raw, weekly, summary = ingest(cfg)
    demo = load_demo()
    truth_weekly = demo.weekly[demo.weekly["mmm_timeseries_id"] == "brand_a_GB"].sort_values("week_start")
    assert len(weekly) == len(truth_weekly) == 156
    assert weekly[F.TIME].dt.weekday.eq(0).all()  # weeks start on Monday
    np.testing.assert_allclose(weekly[F.REVENUE].to_numpy(), truth_weekly["all_purchases_original_price"], rtol=1e-9)
    for channel in CHANNELS:
        np.testing.assert_allclose(weekly[F.spend(channel)].to_numpy(), truth_weekly[f"{channel}_spend"], rtol=1e-9)
    # Controls are averaged, promo is the share of promo days.
    np.testing.assert_allclose(weekly["avg_price"].to_numpy(), truth_weekly["avg_price"], rtol=1e-6)
    assert set(weekly[F.PROMO].unique()) <= {0.0, 1.0}
    assert summary["rows_selected"] == 156 * 7 and summary["geos"] == ["national"]
    assert summary["aggregation"]["input_frequency"] == "daily"
    assert "mmm_timeseries_id" in summary["unmapped_columns"]


def test_geo_key_kept_as_geo_dimension(make_cfg):
    raw, weekly, summary = ingest(make_cfg("data=demo_geo"))
    assert summary["geos"] == ["GB", "US"]
    assert weekly.groupby(F.GEO).size().to_dict() == {"GB": 156, "US": 156}


def test_several_series_without_geo_col_is_an_error_listing_them(make_cfg):
    cfg = make_cfg("data.series.territory_name=null")
    with pytest.raises(DataError, match=r"holds 2 series \(brand_a_GB, brand_a_US\)"):
        ingest(cfg)


def test_series_filter_selecting_nothing(make_cfg):
    with pytest.raises(DataError, match="selects no rows") as info:
        ingest(make_cfg("data.series.territory_name=FR"))
    assert "GB" in info.value.fix


def test_partial_edge_weeks_are_dropped(make_cfg, tmp_path):
    daily = load_demo().daily
    daily = daily[(daily["organisation_id"] == "brand_a") & (daily["territory_name"] == "GB")]
    daily = daily.iloc[3:]  # the first week starts on a Thursday
    path = tmp_path / "cut.csv"
    daily.to_csv(path, index=False)
    raw, weekly, summary = ingest(_csv_config(make_cfg, path))
    assert summary["aggregation"]["dropped_partial_weeks"] == ["national 2022-01-03"]
    assert len(weekly) == 155


def test_weekly_input_is_kept_on_its_own_dates(make_cfg, tmp_path):
    weeks = pd.date_range("2023-01-07", periods=60, freq="7D")  # Saturdays
    table = pd.DataFrame({"week": weeks.strftime("%Y-%m-%d"), "sales": np.arange(60) + 100.0,
                          "search": np.linspace(1, 2, 60)})
    path = tmp_path / "weekly.csv"
    table.to_csv(path, index=False)
    cfg = _own_dataset(make_cfg, tmp_path, path, "  date_col: week\n  revenue_col: sales\n  channel_map: {search: search}\n")
    raw, weekly, summary = ingest(cfg)
    assert summary["aggregation"]["input_frequency"] == "weekly"
    assert list(weekly[F.TIME]) == list(weeks)
    assert weekly[F.spend("search")].sum() == pytest.approx(table["search"].sum())


def test_missing_column_names_closest_existing(make_cfg, tmp_path):
    daily = load_demo().daily.rename(columns={"tiktok_spend": "tik_tok_spend"})
    path = tmp_path / "renamed.csv"
    daily.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) 'tiktok_spend' \(data.channel_map.tiktok\), "
                                        r"closest: \['tik_tok_spend'"):
        ingest(_csv_config(make_cfg, path))


def test_parquet_and_semicolon_csv_are_read(make_cfg, tmp_path):
    daily = load_demo().daily
    daily.to_parquet(tmp_path / "d.parquet")
    daily.to_csv(tmp_path / "d.csv", sep=";", index=False)
    a = ingest(_csv_config(make_cfg, tmp_path / "d.parquet"))[1]
    b = ingest(_csv_config(make_cfg, tmp_path / "d.csv"))[1]
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_fallback_from_figshare_404_to_demo_is_logged(make_cfg, fake_figshare):
    fake_figshare.article_404 = True
    cfg = make_cfg("ingest.connector_priority=[figshare,demo]", f"ingest.figshare.api_base={fake_figshare.api_base}",
                   "ingest.figshare.timeout_s=0.5", "ingest.figshare.retries=0")
    raw, weekly, summary = ingest(cfg)
    assert [a["connector"] for a in summary["attempts"]] == ["figshare", "demo"]
    assert summary["attempts"][0]["status"] == "failed" and "404" in summary["attempts"][0]["reason"]
    assert summary["connector"] == "demo"


def test_figshare_connector_loads_and_caches(make_cfg, fake_figshare):
    daily = load_demo().daily
    fake_figshare.add_file("conjura_mmm_data.csv", daily.to_csv(index=False).encode())
    cfg = make_cfg("ingest.connector_priority=[figshare]", f"ingest.figshare.api_base={fake_figshare.api_base}",
                   "ingest.figshare.timeout_s=2")
    run_stage(cfg, "ingest")
    summary = json.loads(open(cfg.paths.artifacts + "/ingest/ingest_summary.json").read())
    assert summary["connector"] == "figshare" and summary["source"]["from_cache"] is False
    downloads = fake_figshare.count("/bytes")
    offline = make_cfg("ingest.connector_priority=[figshare]", f"ingest.figshare.api_base={fake_figshare.api_base}",
                       "ingest.figshare.offline=true")
    _, weekly, summary2 = ingest(offline)
    assert summary2["source"]["from_cache"] is True and fake_figshare.count("/bytes") == downloads
    assert len(weekly) == 156


def test_all_connectors_failing_names_each_reason(make_cfg, tmp_path):
    cfg = make_cfg("ingest.connector_priority=[local_csv,figshare]", f"ingest.local_csv.path={tmp_path}/none.csv",
                   "ingest.figshare.offline=true", f"paths.cache={tmp_path}/empty_cache")
    with pytest.raises(ConnectorError, match=r"every connector failed \(local_csv, figshare\)"):
        ingest(cfg)


def test_revenue_per_kpi_column_multiplies_a_revenue_kpi(make_cfg, tmp_path):
    days = pd.date_range("2023-01-02", periods=7 * 60, freq="D")
    table = pd.DataFrame({"day": days, "conversions": 2.0, "value": 3.0, "tv": 1.0})
    path = tmp_path / "conv.csv"
    table.to_csv(path, index=False)
    cfg = _own_dataset(make_cfg, tmp_path, path, "  date_col: day\n  revenue_col: conversions\n"
                       "  revenue_per_kpi_col: value\n  channel_map: {tv: tv}\n")
    std = standardize(table, cfg)
    assert std[F.REVENUE].eq(6.0).all()
    weekly, info = to_weekly(std, cfg)
    assert weekly[F.REVENUE].eq(42.0).all() and info["weeks"] == 60


def test_conjura_dataset_file_reads_the_figshare_schema(make_cfg, fake_figshare, tmp_path):
    """data=conjura maps the real dataset's columns; a run without a series filter lists the series ids."""
    days = pd.date_range("2022-01-03", periods=7 * 60, freq="D")
    columns = {"date_day": days.strftime("%Y-%m-%d"), "all_purchases_original_price": 1000.0}
    for name in ("google_paid_search", "google_shopping", "google_pmax", "google_display", "google_video",
                 "meta_facebook", "meta_instagram", "meta_other", "tiktok"):
        columns[f"{name}_spend"] = 10.0
    table = pd.concat([pd.DataFrame({"mmm_timeseries_id": sid, **columns}) for sid in ("101", "202")])
    fake_figshare.add_file("conjura_mmm_data.csv", table.to_csv(index=False).encode())
    base = ["data=conjura", f"ingest.figshare.api_base={fake_figshare.api_base}", "ingest.figshare.timeout_s=2"]
    with pytest.raises(DataError, match=r"holds 2 series \(101, 202\)"):
        ingest(make_cfg(*base))
    _, weekly, summary = ingest(make_cfg(*base, "data.series.mmm_timeseries_id=202"))
    assert summary["connector"] == "figshare" and len(weekly) == 60
    assert weekly[F.spend("google_search")].eq(70.0).all()
