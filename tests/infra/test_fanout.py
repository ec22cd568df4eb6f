"""Fan-out over series: listing the series, the sweep overrides, the aggregated table (with fake job folders) and
an end-to-end fan-out of the ingest stage over the demo's territories."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mmm_meridian.config import load_config
from mmm_meridian.errors import ConfigError, DataError
from mmm_meridian.fanout import aggregate, fan_out, fanout_main, list_series, series_overrides
from mmm_meridian.simulate import load_demo


@pytest.fixture(scope="module")
def demo_daily() -> pd.DataFrame:
    return load_demo().daily


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Hydra reconfigures logging when it runs in-process; put the test runner's set-up back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_series_are_the_key_combinations_present_in_the_data(demo_daily: pd.DataFrame) -> None:
    cfg = load_config([])
    expected = demo_daily[["organisation_id", "territory_name"]].drop_duplicates().sort_values(
        ["organisation_id", "territory_name"])
    found = list_series(cfg, frame=demo_daily)  # both data.keys; the demo's own GB / brand_a filter is replaced
    assert found == expected.to_dict("records")
    assert len(found) < demo_daily["organisation_id"].nunique() * demo_daily["territory_name"].nunique()


def test_keys_not_fanned_out_keep_their_filter_and_only_restricts(demo_daily: pd.DataFrame) -> None:
    cfg = load_config(["data.series.organisation_id=brand_b"])
    territories = sorted(demo_daily.loc[demo_daily["organisation_id"] == "brand_b", "territory_name"].unique())
    assert list_series(cfg, ["territory_name"], frame=demo_daily) == [{"territory_name": t} for t in territories]
    assert list_series(cfg, ["territory_name"], only={"territory_name": [territories[-1]]}, frame=demo_daily) == [
        {"territory_name": territories[-1]}]


def test_bad_keys_and_empty_selections_are_clear_errors(demo_daily: pd.DataFrame) -> None:
    cfg = load_config([])
    with pytest.raises(ConfigError, match="not in data.keys"):
        list_series(cfg, ["channel"], frame=demo_daily)
    with pytest.raises(DataError, match="no series left"):
        list_series(cfg, ["territory_name"], only={"territory_name": ["FR"]}, frame=demo_daily)
    with pytest.raises(DataError, match="no column"):
        list_series(cfg, ["territory_name"], frame=demo_daily.drop(columns="territory_name"))


def test_sweep_overrides_quote_values_and_keep_other_filters() -> None:
    cfg = load_config(["data.series.organisation_id=brand_a"])
    assert series_overrides(cfg, [{"territory_name": "GB"}, {"territory_name": "it's, odd"}]) == [
        "data.series.territory_name='GB','it\\'s, odd'"]
    cfg = load_config(["data.keys=[organisation_id,territory_name,channel_group]",
                       "++data.series.channel_group=[x,y]", "data.series.territory_name=GB"])
    (override,) = series_overrides(cfg, [{"organisation_id": "a", "territory_name": "GB"},
                                         {"organisation_id": "b", "territory_name": "DE"}])
    assert override == ("data.series={channel_group:['x','y'],organisation_id:'a',territory_name:'GB'},"
                        "{channel_group:['x','y'],organisation_id:'b',territory_name:'DE'}")


def _fake_job(sweep: Path, num: int, territory: str, result: dict | None, roi: dict[str, float] | None) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"data": {"series": {"territory_name": territory}}}))
    if result is not None:
        (job / "job_result.json").write_text(json.dumps({"artifacts": str(job / "artifacts"), **result}))
    if roi is not None:
        (job / "artifacts" / "train").mkdir(parents=True)
        pd.DataFrame({"channel": list(roi), "roi": list(roi.values()), "roi_ci_lo": [0.1] * len(roi)}).to_csv(
            job / "artifacts" / "train" / "roi.csv", index=False)


def test_aggregate_builds_one_row_per_series_and_stacks_the_roi_tables(tmp_path: Path) -> None:
    _fake_job(tmp_path, 0, "GB", {"status": "ok", "metrics": {"train.rhat_max": 1.01}}, {"search": 2.5, "tv": 0.8})
    _fake_job(tmp_path, 1, "US", {"status": "failed", "error": "error: train: bad", "metrics": {}}, None)
    _fake_job(tmp_path, 2, "DE", None, None)  # its process died: no job_result.json
    _fake_job(tmp_path, 10, "FR", {"status": "ok", "metrics": {"train.rhat_max": 1.03}}, {"search": 1.5, "tv": 1.2})
    summary, status = aggregate(tmp_path, ["territory_name"])
    assert status == 2  # the worst exit status, as `mmm -m` reports: failed (2) over crashed (1) over ok (0)
    assert summary["territory_name"].tolist() == ["GB", "US", "DE", "FR"]  # job order, 10 after 2
    assert summary["status"].tolist() == ["ok", "failed", "crashed", "ok"]
    assert summary.loc[0, "roi.search"] == 2.5 and summary.loc[3, "roi.tv"] == 1.2
    assert pd.isna(summary.loc[1, "roi.search"])
    assert summary.loc[3, "train.rhat_max"] == 1.03
    stacked = pd.read_csv(tmp_path / "fanout_roi.csv")
    assert stacked.columns.tolist() == ["territory_name", "channel", "roi", "roi_ci_lo"]
    assert stacked.groupby("territory_name")["roi"].sum().to_dict() == {"FR": 2.7, "GB": 3.3}
    assert pd.read_csv(tmp_path / "fanout_summary.csv").shape[0] == 4
    assert not (tmp_path / "fanout_allocation.csv").exists()


def test_aggregate_status_is_ok_only_when_every_job_succeeded(tmp_path: Path) -> None:
    _fake_job(tmp_path, 0, "GB", {"status": "ok"}, None)
    assert aggregate(tmp_path, ["territory_name"])[1] == 0
    _fake_job(tmp_path, 1, "US", None, None)
    assert aggregate(tmp_path, ["territory_name"])[1] == 1


@pytest.mark.usefixtures("keep_logging")
def test_fan_out_ingest_runs_one_job_per_territory(tmp_path: Path, demo_daily: pd.DataFrame) -> None:
    result = fan_out([f"paths.root={tmp_path}", "data.series.organisation_id=brand_a", "tracking.enabled=false"],
                     stage="ingest", keys=["territory_name"])
    brand_a = demo_daily[demo_daily["organisation_id"] == "brand_a"]
    territories = sorted(brand_a["territory_name"].unique())
    assert result.status == 0
    assert [s["territory_name"] for s in result.series] == territories
    table = pd.read_csv(result.summary_path)
    assert table["territory_name"].tolist() == territories
    assert (table["status"] == "ok").all()
    rows = brand_a.groupby("territory_name").size()
    assert table["ingest.rows"].tolist() == [rows[t] for t in territories]
    weeks = brand_a.assign(week=pd.to_datetime(brand_a["date_day"]).dt.to_period("W-SUN")).groupby(
        "territory_name")["week"].nunique()
    assert table["ingest.weeks"].tolist() == [weeks[t] for t in territories]
    for artifacts in table["artifacts"]:  # each series has its own artifacts folder inside the sweep folder
        assert Path(artifacts).is_relative_to(result.sweep_dir) and (Path(artifacts) / "ingest").is_dir()
    assert result.sweep_dir.is_relative_to(tmp_path / "artifacts" / "mmm_demo" / "fanout")


def test_fanout_cli_reports_bad_input_with_exit_status_2(capsys: pytest.CaptureFixture) -> None:
    assert fanout_main(["ingest", "--keys", "channel"]) == 2
    assert capsys.readouterr().err.startswith("error: fanout: cannot fan out over ['channel']")
    assert fanout_main(["fit"]) == 2
    assert fanout_main([]) == 2


@pytest.mark.slow  # creating the sqlite MLflow store takes 10-20 s on 2 cores
@pytest.mark.usefixtures("keep_logging")
def test_fan_out_logs_its_tables_to_the_sweep_parent_run(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from mmm_meridian.tracking import tracking_uri

    result = fan_out([f"paths.root={tmp_path}", "data.series.organisation_id=brand_a"], stage="ingest",
                     keys=["territory_name"], only={"territory_name": ["GB"]})
    cfg = load_config([f"paths.root={tmp_path}"])
    client = MlflowClient(tracking_uri=tracking_uri(cfg))
    (run,) = client.search_runs([client.get_experiment_by_name("mmm_demo").experiment_id],
                                filter_string="tags.`mmm.fanout` = 'true'")
    assert str(result.sweep_dir) in run.data.tags["mmm.overrides"]
    assert run.data.metrics == {"fanout.series": 1.0, "fanout.ok": 1.0}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "fanout")] == ["fanout/fanout_summary.csv"]
