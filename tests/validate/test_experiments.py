"""Validate's experiment checks: every bad row stops the run with one line naming it; the report's section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmm_meridian import frame as F
from mmm_meridian.artifacts import ArtifactStore
from mmm_meridian.cli import main
from mmm_meridian.errors import DataError
from mmm_meridian.pipeline import run_stage
from mmm_meridian.tables import experiments as ex
from mmm_meridian.validate.experiments import check_experiments

CHANNELS = ["google_search", "google_display", "google_video", "meta_facebook", "meta_instagram", "tiktok"]
WEEKS = pd.date_range("2023-01-02", periods=20, freq="7D")  # Mondays; the data ends on Sunday 2023-05-21
SOURCE = {"kind": "csv", "path": "/data/tests.csv", "sha256": "0" * 64}


def _weekly(geos: list[str]) -> pd.DataFrame:
    frames = []
    for geo in geos:
        frame = pd.DataFrame({F.TIME: WEEKS, F.GEO: geo})
        for channel in CHANNELS:
            frame[F.spend(channel)] = 100.0
        frame.loc[frame[F.TIME] >= "2023-04-03", F.spend("tiktok")] = 0.0  # tiktok paused from week 14
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _rows(*tests: dict) -> pd.DataFrame:
    return ex.parse_inline(list(tests))


def _test(channel: str = "google_search", start: str = "2023-01-02", end: str = "2023-01-29", **extra) -> dict:
    return {"channel": channel, "start": start, "end": end, **({"roi": 1.5, "roi_se": 0.3} | extra)}


def _error(rows: pd.DataFrame, cfg, geos: list[str] | None = None) -> str:
    with pytest.raises(DataError) as info:
        check_experiments(rows, _weekly(geos or [F.NATIONAL]), cfg, SOURCE)
    line = info.value.one_line()
    assert "\n" not in line and "fix:" in line and "(at /data/tests.csv)" in line
    return line


def test_valid_tests_give_the_report_section(cfg):
    rows = _rows(_test(), _test(start="2023-02-01", end="2023-02-28"),  # Wed..Tue: weeks of 01-30 .. 02-27
                 _test("meta_facebook", "2023-03-06", "2023-03-19", roi=None, roi_se=None,
                       incremental_revenue=300.0, incremental_revenue_se=50.0))
    section = check_experiments(rows, _weekly([F.NATIONAL]), cfg, SOURCE)
    assert section["tests"] == 3 and section["source"] == SOURCE
    assert section["per_channel"] == {
        "google_search": {"tests": 2, "rows": [1, 2], "weeks": 4 + 5, "spend": 900.0},
        "meta_facebook": {"tests": 1, "rows": [3], "weeks": 2, "spend": 200.0}}


@pytest.mark.parametrize(("test", "expected"), [
    (_test("tv"), "experiment row 2: channel 'tv' is not a paid channel of the data (data.channel_map: "
                  "['google_search', 'google_display'"),
    (_test(geo="GB"), "experiment row 2: geo 'GB' given, but the model is national"),
    (_test(start="2023-02-01", end="2023-01-31"), "experiment row 2: start 2023-02-01 is after end 2023-01-31"),
    (_test(start="2022-12-26", end="2023-01-08"), "experiment row 2: the test (2022-12-26..2023-01-08) is not within "
                                                  "the data's weeks (2023-01-02..2023-05-21)"),
    (_test(start="2023-05-15", end="2023-05-22"), "is not within the data's weeks"),
    (_test(roi_se=0), "experiment row 2: roi_se is 0; a standard error must be above zero"),
    (_test(roi_se=-0.1), "experiment row 2: roi_se is -0.1; a standard error must be above zero"),
    (_test(roi=None, roi_se=None, incremental_revenue=500, incremental_revenue_se=0),
     "experiment row 2: incremental_revenue_se is 0"),
    (_test(roi=0), "experiment row 2: roi is 0; it must be above zero"),
    (_test(roi=-1.2), "Meridian's ROI prior is LogNormal"),
    (_test(roi=None, roi_se=None, incremental_revenue=-500, incremental_revenue_se=100),
     "experiment row 2: incremental_revenue is -500; it must be above zero"),
    (_test("tiktok", "2023-04-05", "2023-04-20"), "experiment row 2: channel 'tiktok' has no spend in the test's "
                                                  "weeks (2023-04-05..2023-04-20, national), so its ROI is undefined"),
    (_test(start="2023-01-29", end="2023-02-12"), "experiment row 2: the 'google_search' test (2023-01-29..2023-02-12, "
                                                  "national) shares 1 week(s) from 2023-01-23 with row 1"),
])
def test_a_bad_row_of_a_national_model_stops_naming_the_row(cfg, test, expected):
    line = _error(_rows(_test(start="2023-01-02", end="2023-01-29"), test), cfg)
    assert line.startswith("error: ") and expected in line, line


def test_tests_of_one_channel_touching_one_week_overlap_but_other_channels_may(cfg):
    # Row 1 ends on Sunday 2023-01-29 (the end of the week of 01-23); row 2 starts on the next Monday: disjoint.
    rows = _rows(_test(), _test(start="2023-01-30", end="2023-02-05"), _test("google_video", "2023-01-09", "2023-01-15"))
    assert check_experiments(rows, _weekly([F.NATIONAL]), cfg, SOURCE)["tests"] == 3


GEOS = ["GB", "US"]


@pytest.mark.parametrize(("tests", "expected"), [
    ([_test(geo="FR")], "experiment row 1: geo 'FR' is not a geo of the data (geos: ['GB', 'US'])"),
    ([_test(geo="GB"), _test(geo="GB", start="2023-01-23", end="2023-02-05")],
     "experiment row 2: the 'google_search' test (2023-01-23..2023-02-05, geo 'GB') shares 1 week(s) from 2023-01-23 "
     "with row 1 (2023-01-02..2023-01-29, geo 'GB')"),
    ([_test(geo="GB"), _test(start="2023-01-23", end="2023-02-05")],
     "experiment row 2: the 'google_search' test (2023-01-23..2023-02-05, national) shares 1 week(s)"),
    ([_test(), _test(geo="US", start="2023-01-16", end="2023-01-22")], "experiment row 2: the 'google_search' test"),
])
def test_a_bad_row_of_a_geo_model_stops_naming_the_row(cfg, tests, expected):
    line = _error(_rows(*tests), cfg, GEOS)
    assert expected in line, line


def test_geo_tests_of_one_channel_in_different_geos_may_share_weeks(cfg):
    rows = _rows(_test(geo="GB"), _test(geo="US"))
    section = check_experiments(rows, _weekly(GEOS), cfg, SOURCE)
    assert section["per_channel"]["google_search"] == {"tests": 2, "rows": [1, 2], "weeks": 8, "spend": 800.0}


def test_a_geo_tests_spend_is_its_geos_and_a_national_tests_every_geos(cfg):
    weekly = _weekly(GEOS)
    weekly.loc[weekly[F.GEO] == "US", F.spend("google_video")] = 0.0
    ok = check_experiments(_rows(_test("google_video")), weekly, cfg, SOURCE)
    assert ok["per_channel"]["google_video"]["spend"] == 400.0  # GB's 4 weeks only
    with pytest.raises(DataError, match="row 1: channel 'google_video' has no spend .*geo 'US'"):
        check_experiments(_rows(_test("google_video", geo="US")), weekly, cfg, SOURCE)


def test_inline_rows_are_named_by_the_config_key(cfg):
    with pytest.raises(DataError) as info:
        check_experiments(_rows(_test("tv")), _weekly([F.NATIONAL]), cfg, {"kind": "inline"})
    assert "(at calibration.experiments)" in info.value.one_line()


# -- the stage ----------------------------------------------------------------------------------------------------------
DEMO_CSV = "channel,start,end,roi,roi_se\ngoogle_search,2023-03-06,2023-04-02,1.6,0.4\ntiktok,2024-01-01,2024-01-28,2,0.5\n"


def test_validate_reports_the_experiments_and_a_bad_row_exits_2(make_cfg, tmp_path, capsys):
    path = tmp_path / "tests.csv"
    path.write_text(DEMO_CSV, encoding="utf-8")
    cfg = make_cfg(f"calibration.experiments={path}", "validation.override_gate=true")
    store = ArtifactStore(cfg.paths.artifacts)
    run_stage(cfg, "ingest", store)
    run_stage(cfg, "validate", store)
    report = json.loads((store.stage_dir("validate") / "validation_report.json").read_text())
    assert report["experiments"]["tests"] == 2
    assert report["experiments"]["per_channel"]["tiktok"]["rows"] == [2]
    assert np.isclose(report["experiments"]["per_channel"]["google_search"]["spend"],
                      pd.read_parquet(store.stage_dir("ingest") / "weekly.parquet").set_index(F.TIME)
                      .loc["2023-03-06":"2023-03-27", F.spend("google_search")].sum())

    path.write_text(DEMO_CSV + "tiktok,2024-01-22,2024-02-04,1.8,0.5\n", encoding="utf-8")
    overrides = [f"paths.root={tmp_path}", "tracking.enabled=false", f"calibration.experiments={path}",
                 "validation.override_gate=true"]
    assert main(["ingest", *overrides]) == 0
    capsys.readouterr()
    assert main(["validate", *overrides]) == 2  # a hard stop, even with the data-quality gate overridden
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]  # stderr has the log too
    assert len(err) == 1 and err[0].startswith("error: validate: experiment row 3: the 'tiktok' test"), err
    assert f"(at {path.resolve()})" in err[0]


def test_validate_without_experiments_reports_none(make_cfg):
    cfg = make_cfg("validation.override_gate=true")
    store = ArtifactStore(cfg.paths.artifacts)
    run_stage(cfg, "ingest", store)
    run_stage(cfg, "validate", store)
    report = json.loads((Path(store.stage_dir("validate")) / "validation_report.json").read_text())
    assert report["experiments"] == {"source": None, "tests": 0, "per_channel": {}}
